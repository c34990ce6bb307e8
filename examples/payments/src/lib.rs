//! `payments`: a three-phase commit across hosts, on important delivery.
//!
//! The same actor plays both parts. Asked to [`PayRequest::Pay`], it is the
//! **coordinator**: it runs the payment through every participant named
//! (`payments@beta`, `payments@gamma`, ...) in three phases:
//!
//! 1. `Prepare`: can you take this payment? Every participant must vote yes.
//! 2. `PreCommit`: everyone voted yes; get ready. Every participant must
//!    acknowledge.
//! 3. `Commit`: book it.
//!
//! Any failure before the commit phase (a no vote, an unreachable host, a
//! participant whose host dies mid-protocol) aborts the payment: every
//! participant is told to `Abort`, and the payer gets
//! [`Outcome::Aborted`] saying in which phase, at which participant, and
//! why. A participant books nothing until `Commit`.
//!
//! The protocol relies on important delivery: the actor turns it on in
//! `init`, so every request is `call-important` (a request that cannot be
//! delivered fails at once, not after a timeout) and every answer is an
//! important response (the participant learns whether the coordinator took
//! it). That is the FR-2PC pattern of the important-delivery chapter: at no
//! point does a step end in "maybe it arrived".
//!
//! For demonstrations and tests, [`PayRequest::Hold`] makes a participant
//! hold `PreCommit` requests unanswered, so its host can be killed while
//! the coordinator waits in the middle of the protocol.
//!
//! Wire format (postcard): a request is [`PayRequest`], the reply is
//! [`PayReply`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome as CallOutcome};

/// How long the coordinator waits for each participant's answer.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the actor is asked.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum PayRequest {
    /// Coordinator: run payment `id` of `amount` through `participants`
    /// (addresses such as `payments@beta`). Reply: [`PayReply::Outcome`].
    Pay {
        id: u64,
        amount: u64,
        participants: Vec<String>,
    },
    /// Phase 1. Reply: [`PayReply::Vote`].
    Prepare { id: u64, amount: u64 },
    /// Phase 2. Reply: [`PayReply::Ack`].
    PreCommit { id: u64 },
    /// Phase 3. Reply: [`PayReply::Ack`].
    Commit { id: u64 },
    /// Forget payment `id`. Reply: [`PayReply::Ack`].
    Abort { id: u64 },
    /// Participant: hold `PreCommit` requests unanswered (true), or answer
    /// the held ones and stop holding (false). Reply: [`PayReply::Ack`].
    Hold(bool),
    /// Where payment `id` stands here. Reply: [`PayReply::Status`].
    Status(u64),
    /// The total of committed payments here. Reply: [`PayReply::Balance`].
    Balance,
}

/// Where a payment stands at a participant.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Prepared,
    PreCommitted,
    Committed,
    Aborted,
}

/// How a payment ended, as the coordinator reports it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every participant booked it.
    Committed,
    /// Nobody booked it.
    Aborted {
        /// `prepare` or `pre-commit`.
        phase: String,
        /// The participant that failed.
        participant: String,
        /// Why: its vote, or the delivery error.
        reason: String,
    },
    /// The commit phase failed at a participant after others committed:
    /// a recovery protocol must finish the payment there.
    Incomplete { participant: String, reason: String },
}

/// Every answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum PayReply {
    Outcome(Outcome),
    Vote(bool),
    Ack,
    Status(Option<Stage>),
    Balance(u64),
}

/// One payment at a participant.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Entry {
    amount: u64,
    stage: Stage,
}

#[derive(Serialize, Deserialize, Default)]
struct Payments {
    /// Payments this actor takes part in, by id.
    entries: BTreeMap<u64, Entry>,
    /// The total committed here.
    balance: u64,
    /// Whether `PreCommit` requests are held.
    holding: bool,
    /// Held `PreCommit` calls.
    held: Vec<Call>,
}

impl Actor for Payments {
    type Args = ();
    type Message = ();
    type Request = PayRequest;
    type Reply = PayReply;

    fn init(ctx: &mut Context, _args: ()) -> Result<Self, String> {
        // Every request, message and answer of this actor is confirmed.
        ctx.set_important_delivery(true);
        Ok(Payments::default())
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: PayRequest) -> CallOutcome<PayReply> {
        let reply = match req {
            PayRequest::Pay {
                id,
                amount,
                participants,
            } => PayReply::Outcome(coordinate(ctx, id, amount, &participants)),
            PayRequest::Prepare { id, amount } => {
                // A participant takes any payment it has not seen yet.
                let fresh = !self.entries.contains_key(&id);
                if fresh {
                    self.entries.insert(
                        id,
                        Entry {
                            amount,
                            stage: Stage::Prepared,
                        },
                    );
                }
                PayReply::Vote(fresh)
            }
            PayRequest::PreCommit { id } => {
                self.set_stage(id, Stage::PreCommitted);
                if self.holding {
                    self.held.push(call);
                    return CallOutcome::Defer;
                }
                PayReply::Ack
            }
            PayRequest::Commit { id } => {
                if let Some(e) = self.entries.get_mut(&id) {
                    if e.stage != Stage::Committed {
                        e.stage = Stage::Committed;
                        self.balance += e.amount;
                    }
                }
                PayReply::Ack
            }
            PayRequest::Abort { id } => {
                self.set_stage(id, Stage::Aborted);
                PayReply::Ack
            }
            PayRequest::Hold(on) => {
                self.holding = on;
                if !on {
                    for held in std::mem::take(&mut self.held) {
                        if let Err(e) = ctx.reply(&held, &PayReply::Ack) {
                            ctx.warn(format!("payments: a held pre-commit was not taken: {e}"));
                        }
                    }
                }
                PayReply::Ack
            }
            PayRequest::Status(id) => PayReply::Status(self.entries.get(&id).map(|e| e.stage)),
            PayRequest::Balance => PayReply::Balance(self.balance),
        };
        CallOutcome::Reply(reply)
    }
}

impl Payments {
    fn set_stage(&mut self, id: u64, stage: Stage) {
        if let Some(e) = self.entries.get_mut(&id) {
            if e.stage != Stage::Committed {
                e.stage = stage;
            }
        }
    }
}

/// Runs payment `id` through `participants` in three phases.
fn coordinate(ctx: &mut Context, id: u64, amount: u64, participants: &[String]) -> Outcome {
    for (phase, req) in [
        ("prepare", PayRequest::Prepare { id, amount }),
        ("pre-commit", PayRequest::PreCommit { id }),
    ] {
        for p in participants {
            let answer: Result<PayReply, _> = ctx.call_important_timeout(p.as_str(), &req, STEP_TIMEOUT);
            let failure = match answer {
                Ok(PayReply::Vote(true)) | Ok(PayReply::Ack) => continue,
                Ok(PayReply::Vote(false)) => "voted no".to_string(),
                Ok(other) => format!("unexpected answer {other:?}"),
                Err(e) => e.to_string(),
            };
            ctx.warn(format!("payments: payment {id} aborted in {phase} at {p}: {failure}"));
            abort(ctx, id, participants);
            return Outcome::Aborted {
                phase: phase.to_string(),
                participant: p.clone(),
                reason: failure,
            };
        }
    }
    for p in participants {
        let answer: Result<PayReply, _> =
            ctx.call_important_timeout(p.as_str(), &PayRequest::Commit { id }, STEP_TIMEOUT);
        if let Err(e) = answer {
            return Outcome::Incomplete {
                participant: p.clone(),
                reason: e.to_string(),
            };
        }
    }
    ctx.info(format!("payments: payment {id} of {amount} committed"));
    Outcome::Committed
}

/// Tells every participant that can still be reached to forget `id`.
fn abort(ctx: &mut Context, id: u64, participants: &[String]) {
    for p in participants {
        let answer: Result<PayReply, _> =
            ctx.call_important_timeout(p.as_str(), &PayRequest::Abort { id }, STEP_TIMEOUT);
        if let Err(e) = answer {
            ctx.warn(format!("payments: {p} did not take the abort of {id}: {e}"));
        }
    }
}

wactor_guest::export_actor!(Payments);
