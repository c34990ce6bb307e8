//! Progress of long start-up work on a terminal.
//!
//! Compiling many behaviours at start-up can take a while. When stderr is
//! a terminal (and the log is text), `wactor run` keeps one status line at
//! the bottom of it, redrawn a few times a second: how many of the files
//! found have been compiled, a bar, and the time so far. Log lines go to
//! the same terminal, so the log writer clears the status line before each
//! line and the next redraw puts it back. Off a terminal nothing is drawn:
//! the log's own `loading behaviour i/n` lines are the progress.

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wactor::Node;

/// True while a status line is on the terminal.
static SHOWING: AtomicBool = AtomicBool::new(false);

/// How often the status line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

const CLEAR_LINE: &[u8] = b"\r\x1b[2K";

/// The log's writer: stderr, clearing the status line first when one is
/// shown.
pub(crate) struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine { started: false }
    }
}

/// One log line on its way to stderr.
pub(crate) struct LogLine {
    started: bool,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        if !self.started && SHOWING.load(Ordering::Relaxed) {
            err.write_all(CLEAR_LINE)?;
        }
        self.started = true;
        err.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The status line of start-up loading, while it runs.
pub(crate) struct Progress {
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Starts drawing the progress of loading `dir` into `node`, if stderr
    /// is a terminal and the log is text.
    pub(crate) fn start(node: &Node, dir: &Path, text_log: bool) -> Progress {
        if !text_log || !std::io::stderr().is_terminal() {
            return Progress { running: None };
        }
        let total = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && wactor::watch::is_behaviour_file(p))
                    .count()
            })
            .unwrap_or(0);
        if total == 0 {
            return Progress { running: None };
        }
        let node = node.clone();
        let before = done(&node);
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(REDRAW);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let n = (done(&node) - before).min(total as u64) as usize;
                draw(&status_line(n, total, started.elapsed()));
            }
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(CLEAR_LINE);
            let _ = err.flush();
            SHOWING.store(false, Ordering::Relaxed);
        });
        Progress {
            running: Some((stop, task)),
        }
    }

    /// Removes the status line.
    pub(crate) async fn finish(self) {
        if let Some((stop, task)) = self.running {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// Behaviour files the node has finished with, loaded or not.
fn done(node: &Node) -> u64 {
    let (loaded, failed) = node.load_counts();
    loaded + failed
}

fn draw(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(CLEAR_LINE);
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
    SHOWING.store(true, Ordering::Relaxed);
}

/// `compiling behaviours [=======>      ] 5/9  3.2 s`, or the start-up
/// of the actors once every file is compiled.
fn status_line(n: usize, total: usize, elapsed: Duration) -> String {
    const WIDTH: usize = 24;
    let secs = elapsed.as_secs_f64();
    if n >= total {
        return format!("starting {total} actors  {secs:.1} s");
    }
    let filled = n * WIDTH / total;
    let bar: String = (0..WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    format!("compiling behaviours [{bar}] {n}/{total}  {secs:.1} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_shows_the_count_and_a_bar() {
        let line = status_line(3, 12, Duration::from_millis(1500));
        assert_eq!(
            line,
            "compiling behaviours [======>                 ] 3/12  1.5 s"
        );
        assert_eq!(
            status_line(12, 12, Duration::from_secs(2)),
            "starting 12 actors  2.0 s"
        );
    }
}
