//! `batcher`: collects requests and answers them together, one batch at a
//! time.
//!
//! Each `Add(n)` call is deferred and kept. The batch is processed (its
//! numbers summed) when it holds `max_items` requests, or `flush_after_ms`
//! after its first request arrived, whichever comes first; then every caller
//! in it gets the same answer: the batch's id, how many items it processed
//! and their sum.
//!
//! It shows how to hold deferred calls and answer them later:
//!
//! * a call answered later is returned as [`Outcome::Defer`] and its
//!   [`Call`] kept; [`Context::reply`] answers it when the batch is done;
//! * the timer is a message the actor sends itself with
//!   [`Context::send_after`]; it names its batch, so a timer that fires after
//!   its batch was already flushed (full) is ignored;
//! * before processing, callers that stopped waiting (their call timed out)
//!   are dropped with [`Context::is_alive`]: their items are not processed
//!   and they are not answered, only counted. Work is done only for someone
//!   who will see the result.
//!
//! Init arguments ([`BatcherArgs`]): the batch size and the flush delay; none
//! means 8 items and 50 ms.
//!
//! Wire format (postcard): a request is [`BatchRequest`], the reply is
//! [`BatchReply`]. The variant and field order is part of the format.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome, Pid, Timer};

/// How the batcher is configured.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherArgs {
    /// A batch is processed as soon as it holds this many requests.
    pub max_items: u32,
    /// A batch that is not full is processed this long after its first
    /// request.
    pub flush_after_ms: u32,
}

impl Default for BatcherArgs {
    fn default() -> Self {
        BatcherArgs {
            max_items: 8,
            flush_after_ms: 50,
        }
    }
}

/// What to ask the batcher.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BatchRequest {
    /// Add a number to the current batch; answered with
    /// [`BatchReply::Batch`] when the batch is processed.
    Add(u64),
    /// Answered at once with [`BatchReply::Stats`].
    Stats,
}

/// The batcher's answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BatchReply {
    /// The batch this caller's number was processed in.
    Batch(BatchDone),
    /// The counters so far.
    Stats(BatchStats),
}

/// One processed batch, as every caller in it sees it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDone {
    /// Batches are numbered from 1.
    pub batch: u64,
    /// The items processed: those whose callers were still waiting.
    pub items: u32,
    /// Their sum (saturating at `u64::MAX`).
    pub sum: u64,
}

/// What the batcher has done so far.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Batches flushed (full or on the timer).
    pub batches: u64,
    /// Callers answered.
    pub answered: u64,
    /// Callers dropped because they had stopped waiting.
    pub skipped: u64,
    /// Requests in the batch that is being collected now.
    pub pending: u32,
}

/// Messages the batcher sends itself.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMessage {
    /// The flush timer of batch `batch` fired.
    Flush {
        /// The batch the timer was set for.
        batch: u64,
    },
}

/// The state. It is serde, so a hot upgrade hands the batch being collected
/// (the deferred calls and the pending timer) to the new version.
#[derive(Serialize, Deserialize)]
pub struct Batcher {
    args: BatcherArgs,
    /// The id of the batch being collected.
    batch: u64,
    pending: Vec<(Call, u64)>,
    /// The flush timer of the batch being collected, once it has an item.
    timer: Option<Timer>,
    stats: BatchStats,
}

impl Batcher {
    /// Processes the batch being collected and starts the next one.
    fn flush(&mut self, ctx: &mut Context) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_timer(timer);
        }
        let taken = std::mem::take(&mut self.pending);
        let before = taken.len();
        let live: Vec<(Call, u64)> = taken.into_iter().filter(|(call, _)| ctx.is_alive(call)).collect();
        self.stats.skipped += (before - live.len()) as u64;

        let done = BatchDone {
            batch: self.batch,
            items: u32::try_from(live.len()).unwrap_or(u32::MAX),
            sum: live.iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n)),
        };
        for (call, _) in &live {
            match ctx.reply(call, &BatchReply::Batch(done)) {
                Ok(()) => self.stats.answered += 1,
                // The caller's deadline passed between the check and the
                // answer; it is as good as skipped.
                Err(e) => {
                    self.stats.skipped += 1;
                    ctx.debug(format!(
                        "batch {}: {} did not take its answer: {e}",
                        self.batch, call.from
                    ));
                }
            }
        }
        self.stats.batches += 1;
        self.batch += 1;
    }
}

impl Actor for Batcher {
    type Args = BatcherArgs;
    type Message = BatchMessage;
    type Request = BatchRequest;
    type Reply = BatchReply;

    fn init(_ctx: &mut Context, args: BatcherArgs) -> Result<Self, String> {
        if args.max_items == 0 {
            return Err("max_items must be at least 1".into());
        }
        Ok(Batcher {
            args,
            batch: 1,
            pending: Vec::new(),
            timer: None,
            stats: BatchStats::default(),
        })
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: BatchRequest) -> Outcome<BatchReply> {
        match req {
            BatchRequest::Stats => Outcome::Reply(BatchReply::Stats(BatchStats {
                pending: u32::try_from(self.pending.len()).unwrap_or(u32::MAX),
                ..self.stats
            })),
            BatchRequest::Add(n) => {
                if self.pending.is_empty() {
                    let me = ctx.self_pid();
                    let flush = BatchMessage::Flush { batch: self.batch };
                    let delay = Duration::from_millis(self.args.flush_after_ms.into());
                    match ctx.send_after(me, &flush, delay) {
                        Ok(timer) => self.timer = Some(timer),
                        Err(e) => {
                            // Without a timer the batch could wait forever
                            // for more items; refuse this one instead.
                            if let Err(e) =
                                ctx.reply_error(&call, &format!("batcher: cannot set the flush timer: {e}"))
                            {
                                ctx.debug(format!("could not refuse a call from {}: {e}", call.from));
                            }
                            return Outcome::Defer;
                        }
                    }
                }
                self.pending.push((call, n));
                if self.pending.len() >= self.args.max_items as usize {
                    self.flush(ctx);
                }
                Outcome::Defer
            }
        }
    }

    fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: BatchMessage) {
        match msg {
            // A timer for a batch that was already flushed (it filled up
            // first) is stale: that batch is gone.
            BatchMessage::Flush { batch } if batch == self.batch && !self.pending.is_empty() => {
                self.timer = None;
                self.flush(ctx);
            }
            BatchMessage::Flush { .. } => {}
        }
    }
}

wactor_guest::export_actor!(Batcher);
