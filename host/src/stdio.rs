//! Guest stdout and stderr, as `tracing` events tagged with the actor.
//!
//! Output is split into lines; each line becomes one event with the actor's
//! behaviour, pid and stream, so `println!` in a guest reads like the
//! host's own log. A line longer than [`MAX_LINE`] is cut into pieces rather
//! than buffered without bound.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::process::Process;

/// Longest line buffered before it is logged as it is.
const MAX_LINE: usize = 16 * 1024;

/// One of an actor's output streams.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    tag: Arc<Tag>,
}

struct Tag {
    actor: String,
    pid: String,
    stream: &'static str,
}

impl GuestOutput {
    pub(crate) fn new(p: &Process, stream: &'static str) -> Self {
        GuestOutput {
            tag: Arc::new(Tag {
                actor: p.behaviour.clone(),
                pid: p.pid.to_string(),
                stream,
            }),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineLogger {
            tag: self.tag.clone(),
            buf: Vec::new(),
        })
    }
}

struct LineLogger {
    tag: Arc<Tag>,
    buf: Vec<u8>,
}

impl LineLogger {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        let t = &self.tag;
        if t.stream == "stderr" {
            tracing::warn!(target: "wactor::guest", actor = %t.actor, pid = %t.pid, stream = t.stream, "{text}");
        } else {
            tracing::info!(target: "wactor::guest", actor = %t.actor, pid = %t.pid, stream = t.stream, "{text}");
        }
    }

    fn drain_lines(&mut self) {
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.emit(&line);
        }
        if self.buf.len() >= MAX_LINE {
            let piece = std::mem::take(&mut self.buf);
            self.emit(&piece);
        }
    }

    fn flush_partial(&mut self) {
        if !self.buf.is_empty() {
            let piece = std::mem::take(&mut self.buf);
            self.emit(&piece);
        }
    }
}

impl AsyncWrite for LineLogger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.buf.extend_from_slice(data);
        self.drain_lines();
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_partial();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        self.flush_partial();
    }
}
