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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wactor_guest::testing::{Event, TestActor};
    use wactor_guest::{Error, Outcome};

    use super::*;

    fn batcher(max_items: u32, flush_after_ms: u32) -> TestActor<Batcher> {
        TestActor::start(&BatcherArgs {
            max_items,
            flush_after_ms,
        })
        .unwrap_or_else(|e| panic!("init: {e}"))
    }

    fn batch(t: &TestActor<Batcher>, call: &Call) -> Option<Result<BatchReply, Error>> {
        t.response::<BatchReply>(call)
    }

    fn stats(t: &mut TestActor<Batcher>) -> BatchStats {
        match t.call(&BatchRequest::Stats).expect_reply() {
            BatchReply::Stats(s) => s,
            other => panic!("not stats: {other:?}"),
        }
    }

    #[test]
    fn a_full_batch_answers_every_caller_at_once_and_cancels_its_timer() {
        let mut t = batcher(3, 50);
        let a = t.call(&BatchRequest::Add(1));
        let b = t.call(&BatchRequest::Add(2));
        assert_eq!(a.outcome, Outcome::Defer);
        assert_eq!(batch(&t, &a.call), None, "not answered before the batch is full");
        let c = t.call(&BatchRequest::Add(3));
        let done = BatchReply::Batch(BatchDone {
            batch: 1,
            items: 3,
            sum: 6,
        });
        for call in [&a.call, &b.call, &c.call] {
            assert_eq!(batch(&t, call), Some(Ok(done.clone())));
        }
        assert!(t
            .events()
            .iter()
            .any(|e| matches!(e, Event::TimerCancelled { pending: true, .. })));
        // The cancelled timer never flushes anything.
        t.advance(Duration::from_millis(100));
        assert_eq!(
            stats(&mut t),
            BatchStats {
                batches: 1,
                answered: 3,
                skipped: 0,
                pending: 0
            }
        );
    }

    #[test]
    fn a_batch_that_is_not_full_is_flushed_by_its_timer() {
        let mut t = batcher(8, 50);
        let a = t.call(&BatchRequest::Add(5));
        t.advance(Duration::from_millis(30));
        let b = t.call(&BatchRequest::Add(6));
        t.advance(Duration::from_millis(19));
        assert_eq!(batch(&t, &a.call), None, "49 ms after the first item");
        t.advance(Duration::from_millis(1));
        let done = Some(Ok(BatchReply::Batch(BatchDone {
            batch: 1,
            items: 2,
            sum: 11,
        })));
        assert_eq!(batch(&t, &a.call), done);
        assert_eq!(batch(&t, &b.call), done);
        // The next batch has its own id and timer.
        let c = t.call(&BatchRequest::Add(1));
        t.advance(Duration::from_millis(50));
        assert!(matches!(
            batch(&t, &c.call),
            Some(Ok(BatchReply::Batch(BatchDone {
                batch: 2,
                items: 1,
                sum: 1
            })))
        ));
    }

    #[test]
    fn callers_that_stopped_waiting_are_skipped_and_not_summed() {
        let mut t = batcher(8, 50);
        t.set_call_timeout(Duration::from_millis(20));
        let gone = t.call(&BatchRequest::Add(100));
        t.set_call_timeout(Duration::from_secs(5));
        let waiting = t.call(&BatchRequest::Add(1));
        t.advance(Duration::from_millis(50));
        assert_eq!(batch(&t, &gone.call), Some(Err(Error::Timeout)));
        let attempted = t
            .events()
            .iter()
            .any(|e| matches!(e, Event::Responded { call, .. } if *call == gone.call));
        assert!(!attempted, "a caller that stopped waiting is not answered");
        assert_eq!(
            batch(&t, &waiting.call),
            Some(Ok(BatchReply::Batch(BatchDone {
                batch: 1,
                items: 1,
                sum: 1
            })))
        );
        let s = stats(&mut t);
        assert_eq!((s.answered, s.skipped), (1, 1));
    }

    #[test]
    fn a_stale_timer_does_not_flush_the_next_batch() {
        let mut t = batcher(2, 50);
        // Batch 1 fills up and is flushed; batch 2 gets one item.
        t.call(&BatchRequest::Add(1));
        t.call(&BatchRequest::Add(2));
        t.advance(Duration::from_millis(10));
        let late = t.call(&BatchRequest::Add(3));
        // A flush for batch 1 arriving now (a timer that fired just as its
        // batch filled up) must leave batch 2 alone.
        let me = t.pid();
        t.send_from(&me, &BatchMessage::Flush { batch: 1 });
        assert_eq!(t.response::<BatchReply>(&late.call), None);
        assert_eq!(stats(&mut t).pending, 1);
        // Batch 2's own timer flushes it 50 ms after its first item.
        t.advance(Duration::from_millis(49));
        assert_eq!(t.response::<BatchReply>(&late.call), None);
        t.advance(Duration::from_millis(1));
        assert!(matches!(
            batch(&t, &late.call),
            Some(Ok(BatchReply::Batch(BatchDone {
                batch: 2,
                items: 1,
                sum: 3
            })))
        ));
    }

    #[test]
    fn the_batch_being_collected_survives_an_upgrade() {
        let mut t = batcher(8, 50);
        let a = t.call(&BatchRequest::Add(4));
        t.upgrade().expect("upgrade");
        assert_eq!(stats(&mut t).pending, 1);
        // The timer set by the old version flushes the batch in the new one.
        t.advance(Duration::from_millis(50));
        assert_eq!(
            batch(&t, &a.call),
            Some(Ok(BatchReply::Batch(BatchDone {
                batch: 1,
                items: 1,
                sum: 4
            })))
        );
    }

    #[test]
    fn a_batch_size_of_zero_is_refused_at_init() {
        let failed = TestActor::<Batcher>::start(&BatcherArgs {
            max_items: 0,
            flush_after_ms: 50,
        });
        assert_eq!(failed.err().as_deref(), Some("max_items must be at least 1"));
    }
}
