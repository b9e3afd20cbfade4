//! One function's instances and the invocations waiting for them.
//!
//! Instances pull work, as on Lambda: an instance asks `invocation/next` and is *parked*
//! until an invocation comes; an invocation goes to a parked instance at once, or waits
//! in `pending` while an instance starts (a cold start), up to the function's
//! concurrency. All of it is one state under one lock, never held across an `.await`; an
//! instance's supervisor ([`crate::instance`]) is woken through its slot's `wake` whenever
//! its deadline may have changed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

use crate::error::Failure;
use crate::ids;
use crate::metrics;
use crate::spec::{FunctionSpec, HostSettings};

impl std::fmt::Debug for NextEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextEvent")
            .field("id", &self.id)
            .field("event_bytes", &self.event.len())
            .field("deadline_ms", &self.deadline_ms)
            .finish_non_exhaustive()
    }
}

/// `now + span`, or far in the future when that overflows (an idle limit of "never").
fn after(now: Instant, span: Duration) -> Instant {
    now.checked_add(span)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The longest wait between two tries to start an instance of a function whose instances
/// keep failing at init.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One function's pool.
#[derive(Debug)]
pub(crate) struct Pool {
    /// The function.
    pub spec: FunctionSpec,
    /// What every function is told.
    pub settings: Arc<HostSettings>,
    /// Invocations, instances and their slots.
    state: Mutex<State>,
    /// Set when the host stops: every instance's supervisor stops its process.
    pub stopping: watch::Sender<bool>,
    /// Woken when an instance has ended (a stopping host waits for the last).
    pub ended: Notify,
}

/// An invocation on its way to an instance.
pub(crate) struct Invocation {
    /// The Lambda request id (a UUID), `Lambda-Runtime-Aws-Request-Id`.
    id: String,
    /// The event, as the dialect made it.
    event: Bytes,
    /// `Lambda-Runtime-Trace-Id`.
    trace_id: String,
    /// Where its caller waits for the outcome (closed: the caller has gone).
    reply: oneshot::Sender<Result<Bytes, Failure>>,
}

impl std::fmt::Debug for Invocation {
    // Events carry clients' headers (tokens): their size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("id", &self.id)
            .field("event_bytes", &self.event.len())
            .finish_non_exhaustive()
    }
}

/// What `invocation/next` answers an instance.
pub(crate) struct NextEvent {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub id: String,
    /// The body.
    pub event: Bytes,
    /// `Lambda-Runtime-Deadline-Ms`: epoch ms.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: String,
}

#[derive(Debug, Default)]
struct State {
    /// Invocations no instance has taken yet, oldest first.
    pending: VecDeque<Invocation>,
    /// Instances waiting in `invocation/next`, longest waiting first.
    parked: VecDeque<Parked>,
    /// Every live instance, by its number.
    instances: HashMap<u64, Slot>,
    /// The next instance's number.
    next_instance: u64,
    /// Instances in a row that failed at init (0 once one asks for work).
    init_failures: u32,
    /// No instance starts before this (backoff after init failures).
    respawn_at: Option<Instant>,
    /// A task will start instances at `respawn_at`.
    respawn_scheduled: bool,
    /// The host is stopping: nothing new starts, nothing new is taken.
    stopped: bool,
}

/// An instance waiting in `invocation/next`.
#[derive(Debug)]
struct Parked {
    /// Which.
    instance: u64,
    /// Hands it an invocation (dropped: the instance is being stopped).
    hand: oneshot::Sender<Invocation>,
}

/// One instance's state, as the pool sees it.
#[derive(Debug)]
struct Slot {
    /// When its process was started.
    started: Instant,
    /// It has asked for work at least once: its init is over.
    ready: bool,
    /// The invocation it runs.
    busy: Option<Busy>,
    /// Parked since (for the idle timeout).
    idle_since: Option<Instant>,
    /// Why its init failed (`init/error`, or no `next` in time), once known.
    init_error: Option<String>,
    /// The invocation it answered last, until it asks for the next (a second answer is
    /// a state error, not an unknown id).
    answered: Option<String>,
    /// Its supervisor is ending it: it takes no more work and is no capacity.
    stopping: bool,
    /// Wakes its supervisor to look at its deadlines again.
    wake: Arc<Notify>,
}

/// The invocation an instance runs.
#[derive(Debug)]
struct Busy {
    /// Its request id.
    id: String,
    /// When it has run too long.
    deadline: Instant,
    /// Where its caller waits.
    reply: oneshot::Sender<Result<Bytes, Failure>>,
}

/// What an instance's supervisor must do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing before this instant (none: until woken).
    Wait(Option<Instant>),
    /// Its invocation ran past the timeout (already failed): kill it.
    TimedOut,
    /// Idle too long (no longer parked): stop it.
    Idle,
    /// Its init failed: kill it.
    InitFailed,
}

/// Why a runtime's answer was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AnswerError {
    /// The request id is not the invocation this instance runs.
    UnknownRequest,
    /// The invocation was answered already.
    Answered,
}

impl Pool {
    pub fn new(spec: FunctionSpec, settings: Arc<HostSettings>) -> Self {
        Pool {
            spec,
            settings,
            state: Mutex::new(State::default()),
            stopping: watch::Sender::new(false),
            ended: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves a state still worth serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The longest an invocation may wait for an instance to take it: a cold start.
    fn queue_bound(&self) -> Duration {
        self.settings.init_timeout
    }

    /// The longest a caller of [`Pool::invoke`] waits, all told.
    pub fn bound(&self) -> Duration {
        self.queue_bound() + self.spec.timeout + Duration::from_secs(1)
    }

    /// Runs `event` on an instance: its answer, or why none.
    pub async fn invoke(self: &Arc<Self>, event: Bytes) -> Result<Bytes, Failure> {
        let started = Instant::now();
        let result = self.run(event).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(failure) => failure.outcome(),
        };
        metrics::invocation(&self.spec.name, outcome, started.elapsed());
        result
    }

    async fn run(self: &Arc<Self>, event: Bytes) -> Result<Bytes, Failure> {
        let (reply, mut outcome) = oneshot::channel();
        let id = ids::request_id();
        let invocation = Invocation {
            id: id.clone(),
            event,
            trace_id: ids::trace_id(),
            reply,
        };
        // A caller that gives up (its future dropped) takes its call out of the queue.
        let _withdraw = Withdraw {
            pool: self,
            id: &id,
        };
        {
            let mut state = self.lock();
            if state.stopped {
                return Err(Failure::Stopped);
            }
            if let Some(invocation) = hand_to_parked(&mut state, invocation) {
                if state.pending.len() >= self.settings.max_pending {
                    return Err(Failure::Throttled(format!(
                        "{} invocations already wait for an instance",
                        state.pending.len()
                    )));
                }
                state.pending.push_back(invocation);
                self.scale(&mut state);
            }
        }
        // Taken in time, the instance's supervisor answers by the function's deadline.
        if let Ok(answer) = tokio::time::timeout(self.queue_bound(), &mut outcome).await {
            return answer.unwrap_or_else(|_| Err(lost()));
        }
        let still_pending = {
            let mut state = self.lock();
            let before = state.pending.len();
            state.pending.retain(|waiting| waiting.id != id);
            state.pending.len() < before
        };
        if still_pending {
            return Err(Failure::Throttled(format!(
                "no instance took the invocation within {:?}",
                self.queue_bound()
            )));
        }
        match tokio::time::timeout(self.spec.timeout + Duration::from_secs(1), outcome).await {
            Ok(answer) => answer.unwrap_or_else(|_| Err(lost())),
            Err(_) => Err(Failure::TimedOut(self.spec.timeout)),
        }
    }

    /// Starts instances for the waiting invocations, up to the concurrency (one at a
    /// time, after a backoff, while instances keep failing at init).
    fn scale(self: &Arc<Self>, state: &mut State) {
        if state.stopped {
            return;
        }
        // Starting instances will take work soon, and so will those that have answered and
        // not yet asked again (a warm instance is reused, not doubled).
        let starting = state.instances.values().filter(|s| !s.ready).count();
        let coming = state
            .instances
            .values()
            .filter(|s| s.busy.is_none() && !s.stopping && s.init_error.is_none())
            .count();
        let room = self.spec.concurrency.saturating_sub(state.instances.len());
        let mut wanted = state.pending.len().saturating_sub(coming).min(room);
        if state.init_failures > 0 {
            wanted = wanted.min(1usize.saturating_sub(starting));
        }
        if wanted == 0 {
            return;
        }
        if let Some(at) = state.respawn_at.filter(|at| *at > Instant::now()) {
            if !state.respawn_scheduled {
                state.respawn_scheduled = true;
                let pool = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    let mut state = pool.lock();
                    state.respawn_scheduled = false;
                    pool.scale(&mut state);
                });
            }
            return;
        }
        for _ in 0..wanted {
            let number = state.next_instance;
            state.next_instance += 1;
            state.instances.insert(
                number,
                Slot {
                    started: Instant::now(),
                    ready: false,
                    busy: None,
                    idle_since: None,
                    init_error: None,
                    answered: None,
                    stopping: false,
                    wake: Arc::new(Notify::new()),
                },
            );
            metrics::instance_started(&self.spec.name, state.instances.len());
            tokio::spawn(crate::instance::run(self.clone(), number));
        }
    }

    /// The wake-up of instance `number`'s supervisor (none: it has ended).
    pub fn wake_of(&self, number: u64) -> Option<Arc<Notify>> {
        self.lock().instances.get(&number).map(|s| s.wake.clone())
    }

    /// The request instance `number` runs, if any (for its log lines).
    pub fn current_request(&self, number: u64) -> Option<String> {
        let state = self.lock();
        let busy = state.instances.get(&number)?.busy.as_ref()?;
        Some(busy.id.clone())
    }

    /// `invocation/next` from instance `number`: the next invocation, once there is one;
    /// `None` when the instance is being stopped.
    pub async fn next(&self, number: u64) -> Option<NextEvent> {
        loop {
            let parked = {
                let mut state = self.lock();
                let state = &mut *state;
                let slot = state.instances.get_mut(&number)?;
                if slot.stopping || slot.init_error.is_some() {
                    // Doomed (timed out, idle, or its init failed): its end comes next.
                    return None;
                }
                if !slot.ready {
                    slot.ready = true;
                    metrics::init_done(&self.spec.name, slot.started.elapsed());
                    state.init_failures = 0;
                    state.respawn_at = None;
                }
                slot.answered = None;
                if let Some(busy) = slot.busy.take() {
                    let _ = busy.reply.send(Err(Failure::Exited(
                        "the runtime asked for the next invocation without answering this one"
                            .into(),
                    )));
                }
                if state.stopped {
                    return None;
                }
                while let Some(invocation) = state.pending.pop_front() {
                    if let Some(next) = self.assign(state, number, invocation) {
                        return Some(next);
                    }
                }
                let (hand, parked) = oneshot::channel();
                state.parked.push_back(Parked {
                    instance: number,
                    hand,
                });
                let slot = state.instances.get_mut(&number)?;
                slot.idle_since = Some(Instant::now());
                slot.wake.notify_one();
                parked
            };
            let invocation = parked.await.ok()?;
            let mut state = self.lock();
            if let Some(next) = self.assign(&mut state, number, invocation) {
                return Some(next);
            }
        }
    }

    /// Makes `invocation` instance `number`'s work; `None` when its caller has gone (or
    /// the instance has), so the instance looks for another.
    fn assign(&self, state: &mut State, number: u64, invocation: Invocation) -> Option<NextEvent> {
        if invocation.reply.is_closed() {
            return None;
        }
        let Some(slot) = state.instances.get_mut(&number) else {
            let _ = invocation.reply.send(Err(lost()));
            return None;
        };
        let now = Instant::now();
        slot.busy = Some(Busy {
            id: invocation.id.clone(),
            deadline: after(now, self.spec.timeout),
            reply: invocation.reply,
        });
        slot.idle_since = None;
        slot.wake.notify_one();
        Some(NextEvent {
            id: invocation.id,
            event: invocation.event,
            deadline_ms: ids::epoch_ms() + self.spec.timeout.as_millis() as u64,
            trace_id: invocation.trace_id,
        })
    }

    /// `invocation/{id}/response` or `…/error` from instance `number`.
    pub fn answer(
        &self,
        number: u64,
        id: &str,
        outcome: Result<Bytes, Failure>,
    ) -> Result<(), AnswerError> {
        let busy = {
            let mut state = self.lock();
            let slot = state
                .instances
                .get_mut(&number)
                .ok_or(AnswerError::UnknownRequest)?;
            match &slot.busy {
                Some(busy) if busy.id == id => {
                    slot.answered = Some(id.to_owned());
                    // Idle from now, parked or not (a runtime that never asks again is
                    // stopped like an idle one).
                    slot.idle_since = Some(Instant::now());
                    slot.wake.notify_one();
                    slot.busy.take()
                }
                _ if slot.answered.as_deref() == Some(id) => return Err(AnswerError::Answered),
                _ => return Err(AnswerError::UnknownRequest),
            }
        };
        if let Some(busy) = busy {
            let _ = busy.reply.send(outcome);
        }
        Ok(())
    }

    /// `init/error` from instance `number`: its init failed, as `why` says; `false` when
    /// its init was over (it had asked for work).
    pub fn init_failed(&self, number: u64, why: String) -> bool {
        let mut state = self.lock();
        match state.instances.get_mut(&number) {
            Some(slot) if !slot.ready => {
                slot.init_error = Some(why);
                slot.wake.notify_one();
                true
            }
            _ => false,
        }
    }

    /// What instance `number`'s supervisor must do now. An invocation past its deadline is
    /// failed here, and an idle instance unparked, so neither is handed out again.
    pub fn due(&self, number: u64) -> Due {
        let now = Instant::now();
        let mut state = self.lock();
        let state = &mut *state;
        let parked = state.parked.iter().position(|p| p.instance == number);
        let Some(slot) = state.instances.get_mut(&number) else {
            return Due::InitFailed;
        };
        if slot.init_error.is_some() {
            slot.stopping = true;
            return Due::InitFailed;
        }
        if !slot.ready {
            let limit = after(slot.started, self.settings.init_timeout);
            if now < limit {
                return Due::Wait(Some(limit));
            }
            slot.stopping = true;
            slot.init_error = Some(format!(
                "the runtime did not ask for an invocation within {:?}",
                self.settings.init_timeout
            ));
            return Due::InitFailed;
        }
        if let Some(busy) = &slot.busy {
            if now < busy.deadline {
                return Due::Wait(Some(busy.deadline));
            }
            if let Some(busy) = slot.busy.take() {
                let _ = busy.reply.send(Err(Failure::TimedOut(self.spec.timeout)));
            }
            slot.stopping = true;
            return Due::TimedOut;
        }
        let Some(since) = slot.idle_since else {
            return Due::Wait(None);
        };
        let limit = after(since, self.spec.idle);
        if now < limit {
            return Due::Wait(Some(limit));
        }
        slot.stopping = true;
        if let Some(index) = parked {
            state.parked.remove(index);
        }
        Due::Idle
    }

    /// Instance `number` has ended (its process is gone, `how` says why): its invocation
    /// fails; an instance that never asked for work counts as an init failure, failing the
    /// oldest waiting invocation with its error and delaying the next start; instances
    /// start for what still waits.
    pub fn ended(self: &Arc<Self>, number: u64, how: &str) {
        let mut state = self.lock();
        state.parked.retain(|p| p.instance != number);
        if let Some(slot) = state.instances.remove(&number) {
            metrics::instance_ended(&self.spec.name, state.instances.len());
            if let Some(busy) = slot.busy {
                let _ = busy.reply.send(Err(Failure::Exited(how.to_owned())));
            }
            if !slot.ready && !state.stopped {
                state.init_failures += 1;
                let backoff = Duration::from_millis(100)
                    .saturating_mul(1 << state.init_failures.min(10))
                    .min(MAX_BACKOFF);
                state.respawn_at = Some(Instant::now() + backoff);
                let why = slot.init_error.unwrap_or_else(|| how.to_owned());
                tracing::warn!(function = %self.spec.name, failures = state.init_failures,
                    ?backoff, %why, "a function instance failed at init");
                // Every call waiting for it fails with its error, as on Lambda (the next
                // start waits for the backoff).
                for invocation in std::mem::take(&mut state.pending) {
                    let _ = invocation.reply.send(Err(Failure::Init(why.clone())));
                }
            }
        }
        self.scale(&mut state);
        drop(state);
        self.ended.notify_waiters();
    }

    /// Stops taking work: waiting invocations fail, parked instances are let go, and
    /// every supervisor is told to stop its process.
    pub fn stop(&self) {
        let (pending, parked) = {
            let mut state = self.lock();
            state.stopped = true;
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.parked),
            )
        };
        for invocation in pending {
            let _ = invocation.reply.send(Err(Failure::Stopped));
        }
        drop(parked);
        self.stopping.send_replace(true);
    }

    /// Live instances.
    pub fn instances(&self) -> usize {
        self.lock().instances.len()
    }
}

/// Hands `invocation` to the instance parked last (so that, under a light load, the others
/// stay idle and are stopped); back when none takes it.
fn hand_to_parked(state: &mut State, mut invocation: Invocation) -> Option<Invocation> {
    while let Some(parked) = state.parked.pop_back() {
        match parked.hand.send(invocation) {
            Ok(()) => return None,
            // Its `next` was cancelled (the runtime hung up): the next one.
            Err(back) => invocation = back,
        }
    }
    Some(invocation)
}

/// Removes a call from the queue when its caller is gone (a no-op once it was taken).
struct Withdraw<'a> {
    pool: &'a Pool,
    id: &'a str,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.pending.retain(|waiting| waiting.id != self.id);
    }
}

/// An invocation whose instance vanished without a word.
fn lost() -> Failure {
    Failure::Exited("the instance went away".into())
}
