//! `pool-worker`: a slow worker that does one job at a time, meant to run
//! as a pool.
//!
//! `Work { ms }` is a job that takes `ms` milliseconds of wall time. A
//! worker does its jobs one after another, like a worker holding one
//! database connection or one device: a job that arrives while another runs
//! waits its turn. So one worker given N jobs of `ms` needs N × `ms`; a
//! pool of N workers (`spawn_pool("pool-worker", N, ..)`, which sends calls
//! round-robin) gives each worker one job and finishes all N in about one
//! job's time.
//!
//! The wait itself does not block the host: the call is deferred, the
//! worker sends itself a message with [`Context::send_after`] when the job
//! is due to end, and answers the caller then. In between, the worker takes
//! new calls (queueing them) and the host thread runs other actors.
//!
//! The answer ([`WorkDone`]) names the worker, how many jobs were ahead of
//! this one in the worker's queue when it arrived (0: it started at once),
//! and how many jobs the worker has finished. A caller that stopped waiting
//! is not answered, but its job still takes its turn: the work was started
//! for it.
//!
//! Wire format (postcard): a request is [`WorkRequest`], the reply is
//! [`WorkDone`]. The variant and field order is part of the format.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome, Pid};

/// What to ask a worker.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkRequest {
    /// A job that takes `ms` milliseconds; answered with [`WorkDone`] when
    /// it is finished.
    Work {
        /// How long the job takes.
        ms: u32,
    },
}

/// A finished job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WorkDone {
    /// The worker that did it.
    pub worker: Pid,
    /// How long it took, as requested.
    pub ms: u32,
    /// Jobs that were ahead of it at this worker when it arrived.
    pub ahead: u32,
    /// Jobs this worker has finished, this one included.
    pub finished: u64,
}

/// Messages a worker sends itself.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerMessage {
    /// The job numbered `job` is done.
    Finished {
        /// The job's number at this worker.
        job: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct Job {
    /// Numbered per worker, so a stray `Finished` cannot end the wrong job.
    id: u64,
    call: Call,
    ms: u32,
    ahead: u32,
}

/// The state. It is serde, so a hot upgrade keeps the queue.
#[derive(Serialize, Deserialize, Default)]
pub struct Worker {
    /// The job running now, if any.
    running: Option<Job>,
    /// Jobs waiting their turn, oldest first.
    queue: VecDeque<Job>,
    next_job: u64,
    finished: u64,
}

impl Worker {
    /// Starts the next queued job if none is running.
    fn start_next(&mut self, ctx: &mut Context) {
        while self.running.is_none() {
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            let me = ctx.self_pid();
            let done = WorkerMessage::Finished { job: job.id };
            match ctx.send_after(me, &done, Duration::from_millis(job.ms.into())) {
                Ok(_) => self.running = Some(job),
                Err(e) => {
                    if let Err(e) =
                        ctx.reply_error(&job.call, &format!("pool-worker: cannot time the job: {e}"))
                    {
                        ctx.debug(format!("could not refuse a job of {}: {e}", job.call.from));
                    }
                }
            }
        }
    }
}

impl Actor for Worker {
    type Args = ();
    type Message = WorkerMessage;
    type Request = WorkRequest;
    type Reply = WorkDone;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Worker::default())
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: WorkRequest) -> Outcome<WorkDone> {
        let WorkRequest::Work { ms } = req;
        let ahead = self.queue.len() + usize::from(self.running.is_some());
        self.next_job += 1;
        self.queue.push_back(Job {
            id: self.next_job,
            call,
            ms,
            ahead: u32::try_from(ahead).unwrap_or(u32::MAX),
        });
        self.start_next(ctx);
        Outcome::Defer
    }

    fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: WorkerMessage) {
        let WorkerMessage::Finished { job: id } = msg;
        let job = match self.running.take() {
            Some(job) if job.id == id => job,
            other => {
                self.running = other;
                ctx.debug(format!("ignored the end of job {id}: it is not the one running"));
                return;
            }
        };
        self.finished += 1;
        if ctx.is_alive(&job.call) {
            let done = WorkDone {
                worker: ctx.self_pid(),
                ms: job.ms,
                ahead: job.ahead,
                finished: self.finished,
            };
            if let Err(e) = ctx.reply(&job.call, &done) {
                ctx.debug(format!(
                    "job {}: {} did not take its answer: {e}",
                    job.id, job.call.from
                ));
            }
        }
        self.start_next(ctx);
    }
}

wactor_guest::export_actor!(Worker);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wactor_guest::testing::{Event, TestActor};
    use wactor_guest::{Error, Outcome};

    use super::*;

    fn worker() -> TestActor<Worker> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    fn done(t: &TestActor<Worker>, call: &Call) -> Option<Result<WorkDone, Error>> {
        t.response::<WorkDone>(call)
    }

    #[test]
    fn a_job_is_answered_when_its_time_has_passed() {
        let mut t = worker();
        let job = t.call(&WorkRequest::Work { ms: 100 });
        assert_eq!(job.outcome, Outcome::Defer);
        t.advance(Duration::from_millis(99));
        assert_eq!(done(&t, &job.call), None);
        t.advance(Duration::from_millis(1));
        assert_eq!(
            done(&t, &job.call),
            Some(Ok(WorkDone {
                worker: t.pid(),
                ms: 100,
                ahead: 0,
                finished: 1
            }))
        );
    }

    #[test]
    fn jobs_take_their_turns_one_after_another() {
        let mut t = worker();
        let first = t.call(&WorkRequest::Work { ms: 100 });
        let second = t.call(&WorkRequest::Work { ms: 100 });
        t.advance(Duration::from_millis(100));
        assert!(matches!(
            done(&t, &first.call),
            Some(Ok(WorkDone {
                ahead: 0,
                finished: 1,
                ..
            }))
        ));
        assert_eq!(done(&t, &second.call), None, "it waits for the first");
        t.advance(Duration::from_millis(100));
        assert!(matches!(
            done(&t, &second.call),
            Some(Ok(WorkDone {
                ahead: 1,
                finished: 2,
                ..
            }))
        ));
    }

    #[test]
    fn a_caller_that_gave_up_is_not_answered_but_its_job_takes_its_turn() {
        let mut t = worker();
        t.set_call_timeout(Duration::from_millis(50));
        let impatient = t.call(&WorkRequest::Work { ms: 100 });
        t.set_call_timeout(Duration::from_secs(5));
        let next = t.call(&WorkRequest::Work { ms: 10 });
        t.advance(Duration::from_millis(100));
        assert_eq!(done(&t, &impatient.call), Some(Err(Error::Timeout)));
        let attempted = t
            .events()
            .iter()
            .any(|e| matches!(e, Event::Responded { call, .. } if *call == impatient.call));
        assert!(
            !attempted,
            "the worker checked that its caller was gone and did not answer"
        );
        assert_eq!(done(&t, &next.call), None, "the job still ran for 100 ms");
        t.advance(Duration::from_millis(10));
        assert!(matches!(
            done(&t, &next.call),
            Some(Ok(WorkDone {
                ahead: 1,
                finished: 2,
                ..
            }))
        ));
    }

    #[test]
    fn a_stray_finish_does_not_end_the_running_job() {
        let mut t = worker();
        let job = t.call(&WorkRequest::Work { ms: 100 });
        let me = t.pid();
        t.send_from(&me, &WorkerMessage::Finished { job: 99 });
        assert_eq!(done(&t, &job.call), None);
        t.advance(Duration::from_millis(100));
        assert!(matches!(done(&t, &job.call), Some(Ok(_))));
    }

    #[test]
    fn the_queue_survives_an_upgrade() {
        let mut t = worker();
        let first = t.call(&WorkRequest::Work { ms: 100 });
        let second = t.call(&WorkRequest::Work { ms: 100 });
        t.upgrade().expect("upgrade");
        t.advance(Duration::from_millis(200));
        assert!(matches!(
            done(&t, &first.call),
            Some(Ok(WorkDone { finished: 1, .. }))
        ));
        assert!(matches!(
            done(&t, &second.call),
            Some(Ok(WorkDone { finished: 2, .. }))
        ));
    }
}
