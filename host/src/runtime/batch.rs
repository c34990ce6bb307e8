//! Batches: a run of plain messages handed to an actor in one call.
//!
//! Every call into a sandbox has a fixed cost (a fiber to run the guest on,
//! the way in and out, a `realloc` call into the guest for each list or
//! string passed), and for a small message it is most of the time the
//! message takes. When plain messages pile up in a mailbox, an actor whose
//! component exports `handle-messages` (the `actor-batched` world, which
//! the guest SDK builds) gets up to [`MAX_MESSAGES`] of them in one call,
//! framed in one byte list (the format is in `wit/actor.wit`); other
//! components get them one `handle-message` at a time, as before.
//!
//! A batch changes nothing an actor or its senders can see:
//!
//! * Between two messages the guest calls `batch-next`. The host moves the
//!   current trace id (what the next message's sends carry), the CPU
//!   budget and the `message` span (its guest log lines) on to the next
//!   message, or answers false when something must come first: an info,
//!   an answer or an upgrade on the system lane, or a stop, kill or exit
//!   signal. Then the guest returns, and the messages it did not reach go
//!   back to the front of the mailbox, in order.
//! * A trap ends the batch at the message that trapped, as it would end
//!   that message alone; the messages after it stay in the mailbox for the
//!   restarted instance. So does a kill or an exit signal: the message the
//!   guest was in goes with the instance, the ones after it stay.
//! * A batch holds only plain messages: a call, or anything on the system
//!   lane, ends the run being taken, so nothing overtakes what was sent
//!   before it.

use std::future::Future;

use tracing::Span;
use wasmtime::component::{ComponentExportIndex, Func, TypedFunc};
use wasmtime::Store;

use crate::core::pid::Pid;
use crate::core::trace::{self, TraceId};
use crate::process::mailbox::{Envelope, Letter, MailboxReceiver};
use crate::runtime::dispatch::Step;
use crate::runtime::instance::{ActorData, Instance};

/// Messages in one batch at most: a batch runs without a break for the
/// other actors on its thread.
pub(crate) const MAX_MESSAGES: usize = 64;

/// Payload bytes in one batch at most (a single larger message is still
/// handed over, alone).
pub(crate) const MAX_BYTES: usize = 64 * 1024;

/// Bytes of frame buffer an instance keeps between batches: a burst of
/// large messages may grow it to [`MAX_BYTES`] and more, which is let go
/// rather than kept by every actor that once had one.
const KEPT_FRAME_BYTES: usize = 4 * 1024;

/// The component's `handle-messages` export, looked up in an instance the
/// first time a batch could be handed to it.
#[derive(Clone, Copy)]
pub(crate) enum Export {
    NotLooked,
    Absent,
    Present(Func),
}

impl Export {
    /// The export, looked up (and its type checked) on first use.
    fn func(inst: &mut Instance, index: Option<ComponentExportIndex>) -> Option<Func> {
        if let Export::NotLooked = inst.batch {
            let func = index
                .and_then(|i| inst.instance.get_func(&mut inst.store, i))
                .filter(|f| f.typed::<(&[u8],), ()>(&inst.store).is_ok());
            inst.batch = func.map_or(Export::Absent, Export::Present);
        }
        match inst.batch {
            Export::Present(f) => Some(f),
            _ => None,
        }
    }
}

/// Where a batch being handled is: kept in the store, for `batch-next`.
pub(crate) struct Cursor {
    /// The trace id of each message of the batch.
    traces: Vec<TraceId>,
    /// The message being handled.
    at: usize,
    /// The `message` span of the message being handled.
    pub(crate) span: Span,
}

fn message_span(trace: TraceId) -> Span {
    tracing::info_span!("message", kind = "message", %trace)
}

impl ActorData {
    /// `batch-next`: moves on to the next message of the batch, or says
    /// that the guest must return now.
    pub(crate) fn batch_next(&mut self) -> bool {
        let Some(cursor) = self.batch.as_mut() else {
            return false;
        };
        let next = cursor.at + 1;
        if next >= cursor.traces.len() || self.me.control_pending() || self.me.mailbox.system_waiting() {
            return false;
        }
        cursor.at = next;
        let trace = cursor.traces[next];
        cursor.span = message_span(trace);
        trace::set_current(trace);
        self.ticks = 0;
        true
    }
}

/// What an actor handles next: one envelope, or a batch.
pub(crate) enum Next {
    One(Letter),
    /// Two or more plain messages, and the export to hand them to.
    Batch(Func, Vec<Letter>),
}

/// Starts a batch with `letter` (just received) when it is a plain message,
/// more wait behind it, and the instance's component exports
/// `handle-messages`; otherwise `letter` is handled alone.
pub(crate) fn next(
    inst: &mut Instance,
    index: Option<ComponentExportIndex>,
    letter: Letter,
    rx: &mut MailboxReceiver,
) -> Next {
    let plain = matches!(letter.env, Envelope::Message { .. });
    if !plain || index.is_none() || !rx.message_next() {
        return Next::One(letter);
    }
    let Some(func) = Export::func(inst, index) else {
        return Next::One(letter);
    };
    let mut more = Vec::new();
    let room = MAX_BYTES.saturating_sub(letter.payload_len());
    rx.take_messages(&mut more, MAX_MESSAGES - 1, room);
    if more.is_empty() {
        return Next::One(letter);
    }
    more.insert(0, letter);
    Next::Batch(func, more)
}

/// Hands `letters` (two or more plain messages) to `func`, the guest's
/// `handle-messages`, and returns what the last message handled led to.
/// [`reached`] then tells how many the guest got to.
pub(crate) async fn handle(inst: &mut Instance, func: Func, letters: &[Letter]) -> Step {
    inst.frames.clear();
    encode(letters, &mut inst.frames);
    let traces: Vec<TraceId> = letters.iter().map(|l| l.trace).collect();
    let mut trace = traces[0];
    inst.store.data_mut().batch = Some(Cursor {
        traces,
        at: 0,
        span: message_span(trace),
    });
    // SAFETY: `Export::func` checked that the export has this type (as the
    // generated bindings do for the world's exports).
    let typed = unsafe { TypedFunc::<(&[u8],), ()>::new_unchecked(func) };
    let outcome = {
        let (store, frames): (&mut Store<ActorData>, &[u8]) = (&mut inst.store, &inst.frames);
        let call = typed.call_async(store, (frames,));
        let mut call = std::pin::pin!(call);
        // The trace id in force is put back around each poll, where the
        // last `batch-next` left it.
        std::future::poll_fn(|cx| {
            let (poll, now) = trace::sync_scope_kept(trace, || call.as_mut().poll(cx));
            trace = now;
            poll
        })
        .await
    };
    if inst.frames.capacity() > KEPT_FRAME_BYTES {
        inst.frames = Vec::new();
    }
    match outcome {
        Ok(()) => Step::Continue,
        Err(e) => Step::Trap(inst.store.data().trap_reason(&e)),
    }
}

/// How many messages of the batch the guest reached (the one it was in
/// included), and ends the batch: after [`handle`] returned, or after a
/// kill or an exit signal dropped it mid-call.
pub(crate) fn reached(inst: &mut Instance) -> usize {
    inst.store.data_mut().batch.take().map_or(1, |c| c.at + 1)
}

/// Frames `letters` for `handle-messages` (the format is in the WIT file).
fn encode(letters: &[Letter], out: &mut Vec<u8>) {
    let mut last: Option<&Pid> = None;
    for letter in letters {
        let Envelope::Message { from, payload } = &letter.env else {
            continue;
        };
        if last == Some(from) {
            out.push(0);
        } else {
            out.push(1);
            put_bytes(out, from.node.as_bytes());
            out.extend_from_slice(&from.id.to_le_bytes());
            out.extend_from_slice(&from.creation.to_le_bytes());
            last = Some(from);
        }
        put_bytes(out, payload);
    }
}

/// A u32 length, then the bytes. Lengths fit: a payload is at most the
/// node's message limit, and a node name is short.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}
