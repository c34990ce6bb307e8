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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wactor_guest::testing::{Event, MadeCall, TestActor};
    use wactor_guest::Error;

    use super::*;

    const BETA: &str = "payments@beta";
    const GAMMA: &str = "payments@gamma";

    fn payments() -> TestActor<Payments> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    /// A participant that votes `vote` and acknowledges everything else.
    fn participant(t: &mut TestActor<Payments>, name: &str, vote: bool) {
        t.on_call(name)
            .always()
            .reply_with(move |req: PayRequest| match req {
                PayRequest::Prepare { .. } => PayReply::Vote(vote),
                _ => PayReply::Ack,
            });
    }

    fn pay(t: &mut TestActor<Payments>, id: u64) -> Outcome {
        let req = PayRequest::Pay {
            id,
            amount: 10,
            participants: vec![BETA.into(), GAMMA.into()],
        };
        match t.call(&req).expect_reply() {
            PayReply::Outcome(o) => o,
            other => panic!("not an outcome: {other:?}"),
        }
    }

    /// The requests the coordinator sent, as (participant, request).
    fn sent(t: &mut TestActor<Payments>) -> Vec<(String, PayRequest)> {
        t.take_calls::<PayRequest>()
            .into_iter()
            .map(|MadeCall { to, request, .. }| (to.to_string(), request))
            .collect()
    }

    #[test]
    fn a_payment_everyone_accepts_goes_through_three_phases_important_and_bounded() {
        let mut t = payments();
        participant(&mut t, BETA, true);
        participant(&mut t, GAMMA, true);
        assert_eq!(pay(&mut t, 1), Outcome::Committed);
        let calls = t.take_calls::<PayRequest>();
        assert!(calls.iter().all(|c| c.important), "every request is important");
        assert!(calls.iter().all(|c| c.timeout == Some(STEP_TIMEOUT)));
        let order: Vec<(String, PayRequest)> =
            calls.into_iter().map(|c| (c.to.to_string(), c.request)).collect();
        assert_eq!(
            order,
            [
                (BETA.into(), PayRequest::Prepare { id: 1, amount: 10 }),
                (GAMMA.into(), PayRequest::Prepare { id: 1, amount: 10 }),
                (BETA.into(), PayRequest::PreCommit { id: 1 }),
                (GAMMA.into(), PayRequest::PreCommit { id: 1 }),
                (BETA.into(), PayRequest::Commit { id: 1 }),
                (GAMMA.into(), PayRequest::Commit { id: 1 }),
            ]
        );
    }

    #[test]
    fn a_no_vote_aborts_the_payment_everywhere() {
        let mut t = payments();
        participant(&mut t, BETA, true);
        participant(&mut t, GAMMA, false);
        assert_eq!(
            pay(&mut t, 2),
            Outcome::Aborted {
                phase: "prepare".into(),
                participant: GAMMA.into(),
                reason: "voted no".into(),
            }
        );
        assert_eq!(
            sent(&mut t),
            [
                (BETA.into(), PayRequest::Prepare { id: 2, amount: 10 }),
                (GAMMA.into(), PayRequest::Prepare { id: 2, amount: 10 }),
                (BETA.into(), PayRequest::Abort { id: 2 }),
                (GAMMA.into(), PayRequest::Abort { id: 2 }),
            ]
        );
    }

    #[test]
    fn an_unreachable_participant_in_pre_commit_aborts_with_the_delivery_error() {
        let mut t = payments();
        t.on_call(BETA).reply(&PayReply::Vote(true));
        t.on_call(BETA).fail(Error::NoConnection);
        t.on_call(BETA).reply(&PayReply::Ack);
        participant(&mut t, GAMMA, true);
        assert_eq!(
            pay(&mut t, 3),
            Outcome::Aborted {
                phase: "pre-commit".into(),
                participant: BETA.into(),
                reason: Error::NoConnection.to_string(),
            }
        );
        let last: Vec<PayRequest> = sent(&mut t).into_iter().skip(3).map(|(_, r)| r).collect();
        assert_eq!(last, [PayRequest::Abort { id: 3 }, PayRequest::Abort { id: 3 }]);
    }

    #[test]
    fn a_commit_that_fails_after_others_committed_is_incomplete() {
        let mut t = payments();
        participant(&mut t, BETA, true);
        t.on_call(GAMMA).reply(&PayReply::Vote(true));
        t.on_call(GAMMA).reply(&PayReply::Ack);
        t.on_call(GAMMA).fail(Error::Timeout);
        assert_eq!(
            pay(&mut t, 4),
            Outcome::Incomplete {
                participant: GAMMA.into(),
                reason: Error::Timeout.to_string(),
            }
        );
    }

    #[test]
    fn a_participant_books_a_payment_only_on_commit_and_only_once() {
        let mut t = payments();
        let status = |t: &mut TestActor<Payments>| t.call(&PayRequest::Status(1)).expect_reply();
        assert_eq!(status(&mut t), PayReply::Status(None));
        assert_eq!(
            t.call(&PayRequest::Prepare { id: 1, amount: 25 }).expect_reply(),
            PayReply::Vote(true)
        );
        assert_eq!(
            t.call(&PayRequest::Prepare { id: 1, amount: 25 }).expect_reply(),
            PayReply::Vote(false),
            "a payment it has seen is refused"
        );
        t.call(&PayRequest::PreCommit { id: 1 });
        assert_eq!(status(&mut t), PayReply::Status(Some(Stage::PreCommitted)));
        assert_eq!(t.call(&PayRequest::Balance).expect_reply(), PayReply::Balance(0));
        t.call(&PayRequest::Commit { id: 1 });
        t.call(&PayRequest::Commit { id: 1 });
        assert_eq!(t.call(&PayRequest::Balance).expect_reply(), PayReply::Balance(25));
        t.call(&PayRequest::Abort { id: 1 });
        assert_eq!(
            status(&mut t),
            PayReply::Status(Some(Stage::Committed)),
            "too late to abort"
        );
    }

    #[test]
    fn held_pre_commits_are_answered_important_when_released() {
        let mut t = payments();
        assert!(t.events().contains(&Event::ImportantDelivery(true)));
        t.call(&PayRequest::Prepare { id: 7, amount: 1 });
        t.call(&PayRequest::Hold(true));
        let held = t.call(&PayRequest::PreCommit { id: 7 });
        assert_eq!(held.outcome, wactor_guest::Outcome::Defer);
        t.advance(Duration::from_secs(1));
        assert_eq!(t.response::<PayReply>(&held.call), None, "held, not answered");
        t.call(&PayRequest::Hold(false));
        assert_eq!(t.response::<PayReply>(&held.call), Some(Ok(PayReply::Ack)));
        assert!(t.events().iter().any(|e| matches!(
            e,
            Event::Responded { call, important: true, .. } if *call == held.call
        )));
    }

    #[test]
    fn the_ledger_survives_an_upgrade() {
        let mut t = payments();
        t.call(&PayRequest::Prepare { id: 1, amount: 5 });
        t.call(&PayRequest::Commit { id: 1 });
        t.call(&PayRequest::Prepare { id: 2, amount: 9 });
        t.upgrade().expect("upgrade");
        assert_eq!(t.call(&PayRequest::Balance).expect_reply(), PayReply::Balance(5));
        assert_eq!(
            t.call(&PayRequest::Status(2)).expect_reply(),
            PayReply::Status(Some(Stage::Prepared))
        );
    }
}
