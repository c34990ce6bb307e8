//! The `host` imports: what a guest can ask of its host.
//!
//! Each function acts on behalf of the calling actor (`self.me`) and
//! delegates to the node; this file only converts between WIT types and
//! the library's, so every behaviour is defined once, in the module named
//! after its concept (routing, calls, names, timers, important delivery).

use std::time::Duration;

use wasmtime::Result;

use crate::core::error::DeliveryError;
use crate::core::pid::{CallOptions, Delivery, Encoding, Pid};
use crate::runtime::instance::ActorData;
use crate::sandbox::bindings::{wit, Host};

/// Longest guest log line kept; the rest is cut.
const MAX_LOG_LINE: usize = 16 * 1024;

type Delivered<T> = Result<std::result::Result<T, wit::DeliveryError>>;

fn delivered<T>(r: std::result::Result<T, DeliveryError>) -> Delivered<T> {
    Ok(r.map_err(Into::into))
}

fn ms(timeout_ms: Option<u32>) -> Option<Duration> {
    timeout_ms.map(|ms| Duration::from_millis(ms.into()))
}

impl wit::Host for ActorData {}

/// `call`, `call-json` and `call-important` of the actor `me`: a call
/// in `encoding` (which its ref carries), important if `important` or if
/// the actor set important delivery.
async fn call_in(
    me: &mut ActorData,
    to: wit::Address,
    request: Vec<u8>,
    timeout_ms: Option<u32>,
    encoding: Encoding,
    important: bool,
) -> Delivered<Vec<u8>> {
    let delivery = match important {
        true => Delivery::Important,
        false => me.me.delivery(),
    };
    let how = CallOptions {
        timeout: ms(timeout_ms),
        delivery,
        encoding,
    };
    let r = me
        .node
        .call_with(&me.me.pid, Some(&me.me), &to.into(), request, how)
        .await;
    delivered(r)
}

impl Host for ActorData {
    async fn self_(&mut self) -> Result<wit::Pid> {
        Ok((&self.me.pid).into())
    }

    async fn send(&mut self, to: wit::Address, message: Vec<u8>) -> Delivered<()> {
        let delivery = self.me.delivery();
        delivered(
            self.node
                .send_with(&self.me.pid, &to.into(), message, delivery)
                .await,
        )
    }

    async fn call(
        &mut self,
        to: wit::Address,
        request: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Delivered<Vec<u8>> {
        call_in(self, to, request, timeout_ms, Encoding::Native, false).await
    }

    async fn call_json(
        &mut self,
        to: wit::Address,
        request: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Delivered<Vec<u8>> {
        call_in(self, to, request, timeout_ms, Encoding::Json, false).await
    }

    async fn call_async(
        &mut self,
        to: wit::Address,
        request: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Delivered<wit::Ref> {
        let r = self
            .node
            .call_async(&self.me, &to.into(), request, ms(timeout_ms), self.me.delivery());
        delivered(r.map(Into::into))
    }

    async fn send_response(&mut self, to: wit::Pid, r: wit::Ref, response: Vec<u8>) -> Delivered<()> {
        let (to, r, delivery) = (Pid::from(to), r.into(), self.me.delivery());
        delivered(self.node.respond_with(&to, &r, Ok(response), delivery).await)
    }

    async fn send_response_error(&mut self, to: wit::Pid, r: wit::Ref, error: String) -> Delivered<()> {
        if let Err(e) = self.node.check_size(error.len()) {
            return delivered(Err(e));
        }
        let (to, r, error) = (Pid::from(to), r.into(), Err(DeliveryError::Remote(error)));
        delivered(self.node.respond_with(&to, &r, error, self.me.delivery()).await)
    }

    async fn refuse_request(&mut self, to: wit::Pid, r: wit::Ref, reason: String) -> Delivered<()> {
        if let Err(e) = self.node.check_size(reason.len()) {
            return delivered(Err(e));
        }
        let (to, r, error) = (Pid::from(to), r.into(), Err(DeliveryError::BadRequest(reason)));
        delivered(self.node.respond_with(&to, &r, error, self.me.delivery()).await)
    }

    async fn ref_is_alive(&mut self, r: wit::Ref) -> Result<bool> {
        Ok(self.node.calls.is_alive(&r.into()))
    }

    async fn send_after(&mut self, to: wit::Address, message: Vec<u8>, delay_ms: u32) -> Result<u64> {
        if let Err(e) = self.node.check_size(message.len()) {
            // `send-after` has no error channel: say why nothing will come.
            tracing::warn!(error = %e, "send-after refused");
            return Ok(0);
        }
        let delay = Duration::from_millis(delay_ms.into());
        Ok(self
            .node
            .send_after(self.me.pid.clone(), to.into(), message, delay))
    }

    async fn cancel_timer(&mut self, t: u64) -> Result<bool> {
        Ok(self.node.timers.cancel(t))
    }

    async fn spawn(
        &mut self,
        behaviour: String,
        args: Vec<u8>,
    ) -> Result<std::result::Result<wit::Pid, wit::SpawnError>> {
        let r = self.node.spawn(&behaviour, args).await;
        Ok(r.map(|p| (&p).into()).map_err(Into::into))
    }

    async fn spawn_pool(
        &mut self,
        behaviour: String,
        size: u32,
        args: Vec<u8>,
    ) -> Result<std::result::Result<wit::Pid, wit::SpawnError>> {
        let r = self.node.spawn_pool(&behaviour, size as usize, args).await;
        Ok(r.map(|p| (&p).into()).map_err(Into::into))
    }

    async fn register(&mut self, name: String) -> Result<std::result::Result<(), wit::RegisterError>> {
        Ok(self.node.names.hold(&name, &self.me).map_err(Into::into))
    }

    async fn unregister(&mut self, name: String) -> Result<bool> {
        Ok(self.node.names.release(&name, &self.me))
    }

    async fn whereis(&mut self, name: String) -> Result<Option<wit::Pid>> {
        Ok(self.node.whereis(&name).map(|p| (&p).into()))
    }

    async fn link(&mut self, to: wit::Pid) -> Delivered<()> {
        delivered(self.node.link(&self.me, &Pid::from(to)).await)
    }

    async fn unlink(&mut self, to: wit::Pid) -> Result<()> {
        self.node.unlink(&self.me, &Pid::from(to));
        Ok(())
    }

    async fn trap_exits(&mut self, on: bool) -> Result<()> {
        self.me
            .sup
            .trap_exits
            .store(on, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn monitor(&mut self, to: wit::Address) -> Result<u64> {
        Ok(self.node.monitor(&self.me, &to.into()))
    }

    async fn demonitor(&mut self, m: u64) -> Result<bool> {
        Ok(self.node.demonitor(&self.me, m))
    }

    async fn log(&mut self, level: wit::Level, mut message: String) -> Result<()> {
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        // The actor's span (see `actor.rs`) tags the line with actor and pid,
        // the message's span with its trace id. During a batch, the message's
        // span is the one `batch-next` moved to, entered just for the line.
        let line = || match level {
            wit::Level::Trace => tracing::trace!(target: "wactor::guest", "{message}"),
            wit::Level::Debug => tracing::debug!(target: "wactor::guest", "{message}"),
            wit::Level::Info => tracing::info!(target: "wactor::guest", "{message}"),
            wit::Level::Warn => tracing::warn!(target: "wactor::guest", "{message}"),
            wit::Level::Error => tracing::error!(target: "wactor::guest", "{message}"),
        };
        match &self.batch {
            Some(batch) => batch.span.in_scope(line),
            None => line(),
        }
        Ok(())
    }

    fn batch_next(&mut self) -> Result<bool> {
        Ok(ActorData::batch_next(self))
    }

    // Important delivery: see `important.rs`.

    async fn send_important(&mut self, to: wit::Address, message: Vec<u8>) -> Delivered<()> {
        let important = Delivery::Important;
        delivered(
            self.node
                .send_with(&self.me.pid, &to.into(), message, important)
                .await,
        )
    }

    async fn call_important(
        &mut self,
        to: wit::Address,
        request: Vec<u8>,
        timeout_ms: Option<u32>,
    ) -> Delivered<Vec<u8>> {
        call_in(self, to, request, timeout_ms, Encoding::Native, true).await
    }

    async fn send_response_important(
        &mut self,
        to: wit::Pid,
        r: wit::Ref,
        response: Vec<u8>,
    ) -> Delivered<()> {
        let (to, r, important) = (Pid::from(to), r.into(), Delivery::Important);
        delivered(self.node.respond_with(&to, &r, Ok(response), important).await)
    }

    async fn set_important_delivery(&mut self, on: bool) -> Result<()> {
        self.me.set_delivery(Delivery::from_flag(on));
        Ok(())
    }
}
