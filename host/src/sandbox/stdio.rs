//! Guest stdout and stderr, as `tracing` events tagged with the actor.
//!
//! Output is split into lines; each line becomes one event with the actor's
//! behaviour, pid and stream, so `println!` in a guest reads like the
//! host's own log. A line longer than [`MAX_LINE`] is cut into pieces rather
//! than buffered without bound.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::core::pid::Pid;

/// Longest line buffered before it is logged as it is.
const MAX_LINE: usize = 16 * 1024;

/// Lines of stderr kept to explain a trap: a Rust panic message and its
/// location fit in a few.
const KEPT_LINES: usize = 8;

/// One of an actor's output streams.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    tag: Arc<Tag>,
}

/// Who writes, and the unfinished last line. Shared by every stream handle
/// the guest opens, so a line written in several pieces is logged whole.
struct Tag {
    actor: String,
    pid: String,
    stream: &'static str,
    partial: Mutex<Vec<u8>>,
    /// The last lines written, newest last (stderr only).
    recent: Mutex<VecDeque<String>>,
}

impl GuestOutput {
    /// The stream `stream` of the actor `pid` of `behaviour`.
    pub(crate) fn new(behaviour: &str, pid: &Pid, stream: &'static str) -> Self {
        GuestOutput {
            tag: Arc::new(Tag {
                actor: behaviour.to_string(),
                pid: pid.to_string(),
                stream,
                partial: Mutex::new(Vec::new()),
                recent: Mutex::new(VecDeque::new()),
            }),
        }
    }
}

impl GuestOutput {
    /// What a Rust guest said when it panicked, from the last lines on this
    /// stream: `panicked at FILE:LINE:COL: MESSAGE`. A panic ends in a trap
    /// that says only `unreachable`; this is the part a user can act on.
    /// An instance never outlives its panic, so any panic seen here is the
    /// one that trapped.
    pub(crate) fn panic_message(&self) -> Option<String> {
        let recent = self.tag.recent.lock();
        let start = recent.iter().rposition(|l| l.contains(" panicked at "))?;
        let mut lines = recent.iter().skip(start);
        let head = lines.next()?;
        let place = head.split_once(" panicked at ").map_or(head.as_str(), |(_, p)| p);
        let place = place.trim_end_matches(':');
        let message: Vec<&str> = lines
            .map(String::as_str)
            .take_while(|l| !l.starts_with("note: "))
            .collect();
        Some(match message.is_empty() {
            true => format!("panicked at {place}"),
            false => format!("panicked at {place}: {}", message.join(" ")),
        })
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    /// Writes are logged synchronously, inside the guest's call, so each
    /// line lands in the span of the message being handled and carries its
    /// trace id, as the `log` import's lines do. (The default adapter
    /// writes from a task of its own, outside that span.)
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineStream {
            tag: self.tag.clone(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineStream {
            tag: self.tag.clone(),
        })
    }
}

impl Tag {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        if self.stream == "stderr" {
            let mut recent = self.recent.lock();
            if recent.len() == KEPT_LINES {
                recent.pop_front();
            }
            recent.push_back(text.chars().take(1024).collect());
        }
        if self.stream == "stderr" {
            tracing::warn!(target: "wactor::guest", actor = %self.actor, pid = %self.pid, stream = self.stream, "{text}");
        } else {
            tracing::info!(target: "wactor::guest", actor = %self.actor, pid = %self.pid, stream = self.stream, "{text}");
        }
    }

    /// Logs every finished line of `data`, keeping the unfinished rest (up
    /// to [`MAX_LINE`]) for the next write.
    fn write(&self, data: &[u8]) {
        let mut buf = self.partial.lock();
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            self.emit(&line);
        }
        if buf.len() >= MAX_LINE {
            let piece = std::mem::take(&mut *buf);
            self.emit(&piece);
        }
    }
}

impl Drop for Tag {
    /// The actor's instance is gone: its unfinished line is logged as it is.
    fn drop(&mut self) {
        let rest = std::mem::take(self.partial.get_mut());
        if !rest.is_empty() {
            self.emit(&rest);
        }
    }
}

/// One handle on a guest output stream.
struct LineStream {
    tag: Arc<Tag>,
}

impl OutputStream for LineStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.tag.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineStream {
    /// Always ready: a write only appends to a buffer.
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LineStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.tag.write(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
