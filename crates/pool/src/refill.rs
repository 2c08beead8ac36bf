//! The background refill loop: keeps each pool at its target, at most `max_creating`
//! creations at a time, never beyond the memory budget, backing off after failures.

use std::collections::HashMap;
use std::sync::Arc;

use slipway_core::{PoolKey, Result};
use tokio::task::{Id, JoinSet};
use tokio::time::{sleep_until, Instant};

use crate::inner::Inner;
use crate::state::Member;

/// What the loop remembers about each creation it spawned, to settle the books even if the
/// task panics.
type InFlight = HashMap<Id, (PoolKey, u64)>;

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut creations: JoinSet<Result<Member>> = JoinSet::new();
    let mut in_flight = InFlight::new();
    loop {
        let wake_at = plan(&inner, &mut creations, &mut in_flight);
        tokio::select! {
            () = inner.cancel.cancelled() => break,
            () = inner.wake.notified() => {}
            Some(done) = creations.join_next_with_id(), if !creations.is_empty() => {
                settle(&inner, done, &mut in_flight).await;
            }
            () = sleep_until(wake_at.unwrap_or_else(far_future)), if wake_at.is_some() => {}
        }
    }
    // Creations already under way finish and become ready for the next start to adopt.
    while let Some(done) = creations.join_next_with_id().await {
        settle(&inner, done, &mut in_flight).await;
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}

/// Starts the creations each pool needs now; returns when the loop should look again.
fn plan(
    inner: &Arc<Inner>,
    creations: &mut JoinSet<Result<Member>>,
    in_flight: &mut InFlight,
) -> Option<Instant> {
    let now = Instant::now();
    let mut wake_at: Option<Instant> = None;
    let mut later = |at: Instant| wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
    let mut state = inner.lock();
    let state = &mut *state;
    for (key, pool) in &mut state.keys {
        if pool.paused {
            continue;
        }
        if let Some(retry_at) = pool.retry_at.filter(|at| *at > now) {
            later(retry_at);
            continue;
        }
        // Creations promised to waiting claims will not end up ready.
        let future_ready = pool.ready.len() + pool.creating - pool.promised;
        let target = pool.config.target_size;
        if future_ready >= target {
            continue;
        }
        let urgent = pool.ready.len() < pool.config.min_size;
        if let Some(due) = pool.last_claim.map(|at| at + inner.settings.refill_delay) {
            if !urgent && due > now {
                later(due);
                continue;
            }
        }
        let wanted =
            (target - future_ready).min(pool.config.max_creating.saturating_sub(pool.creating));
        for _ in 0..wanted {
            let memory = pool.memory_bytes();
            if state.budget.reserve(memory).is_err() {
                // Nothing to do until something is released (which wakes the loop).
                break;
            }
            pool.creating += 1;
            let (task_inner, task_key, spec) =
                (Arc::clone(inner), key.clone(), pool.spec().clone());
            let handle =
                creations.spawn(async move { task_inner.create_member(&task_key, &spec).await });
            in_flight.insert(handle.id(), (key.clone(), memory));
        }
    }
    wake_at
}

/// Books the outcome of one creation.
async fn settle(
    inner: &Arc<Inner>,
    done: Result<(Id, Result<Member>), tokio::task::JoinError>,
    in_flight: &mut InFlight,
) {
    let (id, outcome) = match done {
        Ok((id, outcome)) => (id, outcome),
        Err(join_error) => {
            let id = join_error.id();
            (
                id,
                Err(slipway_core::Error::backend(format!(
                    "a pool creation task failed: {join_error}"
                ))),
            )
        }
    };
    let Some((key, memory)) = in_flight.remove(&id) else {
        return;
    };
    let unwanted = {
        let mut state = inner.lock();
        let state = &mut *state;
        let Some(pool) = state.keys.get_mut(&key) else {
            return;
        };
        match outcome {
            Ok(member) => {
                pool.failures = 0;
                pool.degraded = false;
                pool.retry_at = None;
                pool.last_error = None;
                pool.last_error_kind = None;
                pool.deliver(member)
            }
            Err(error) => {
                state.budget.release(memory);
                pool.creation_failed();
                pool.failures += 1;
                pool.retry_at = Some(Instant::now() + inner.settings.backoff(pool.failures));
                pool.degraded = pool.failures >= inner.settings.degrade_after;
                tracing::warn!(pool = %key, failures = pool.failures, error = %error, "refill failed");
                pool.last_error = Some(error.to_string());
                pool.last_error_kind = Some(error.kind());
                None
            }
        }
    };
    if let Some(member) = unwanted {
        inner.discard(member).await;
    }
    inner.bump();
}
