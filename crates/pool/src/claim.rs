//! Claims: a ready container (checked to be running), a creation already under way, or a
//! cold create; then the hand-out recorded in the store, which no two processes can both win.

use slipway_core::{ContainerInfo, Error, Lease, PoolKey, Result, Timestamp};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::state::Member;
use crate::warm_pool::WarmPool;

/// How a claim gets its container.
enum Source {
    Ready(Member),
    InFlight(oneshot::Receiver<Option<Member>>),
    Cold {
        spec: Box<slipway_core::ContainerSpec>,
        memory: u64,
    },
}

impl WarmPool {
    async fn take_ready(&self, key: &PoolKey, member: Member) -> Result<Option<Member>> {
        if !self.inner.settings.verify_on_claim {
            return Ok(Some(member));
        }
        match self.inner.runtime.inspect_container(&member.id).await {
            Ok(ContainerInfo { state, .. }) if state.is_running() => Ok(Some(member)),
            Ok(_) | Err(Error::NotFound { .. }) => {
                tracing::info!(container = %member.id, "a ready container had died; evicting it");
                self.inner.evict(key, member).await;
                Ok(None)
            }
            Err(e) => {
                self.inner.return_ready(key, member);
                Err(e)
            }
        }
    }

    /// Records the hand-out; `Ok(None)` when another process already claimed the container.
    async fn hand_out(
        &self,
        key: &PoolKey,
        member: Member,
        warm: bool,
        holder: &str,
        started: Instant,
    ) -> Result<Option<Lease>> {
        let lease = Lease {
            key: key.clone(),
            container_id: member.id.clone(),
            container_name: member.name.clone(),
            ports: member.ports.clone(),
            memory_bytes: member.memory_bytes,
            warm,
            holder: holder.to_owned(),
            claimed_at: Timestamp::now(),
        };
        match self.inner.store.record_claim(&lease).await {
            Ok(()) => {}
            Err(Error::Conflict(_)) => {
                // Another slipway process handed it out first: it is theirs now.
                let mut state = self.inner.lock();
                state.budget.release(member.memory_bytes);
                return Ok(None);
            }
            Err(e) => {
                if warm {
                    self.inner.return_ready(key, member);
                } else {
                    self.inner.discard(member).await;
                }
                return Err(e);
            }
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut state = self.inner.lock();
        state
            .claimed
            .insert(lease.container_id.clone(), lease.clone());
        if let Some(key_state) = state.keys.get_mut(key) {
            key_state.record_claim(warm, latency_ms);
            key_state.last_claim = Some(Instant::now());
        }
        drop(state);
        self.inner.wake.notify_one();
        self.inner.bump();
        Ok(Some(lease))
    }

    fn choose_source(&self, key: &PoolKey, fresh: bool) -> Result<Source> {
        let mut state = self.inner.lock();
        let state = &mut *state;
        let key_state = state
            .keys
            .get_mut(key)
            .ok_or_else(|| Error::not_found(format!("pool `{key}`")))?;
        if !fresh {
            if let Some(member) = key_state.ready.pop_front() {
                return Ok(Source::Ready(member));
            }
            // A creation already under way finishes sooner than a new one would.
            if key_state.creating > key_state.promised {
                let (sender, receiver) = oneshot::channel();
                key_state.promised += 1;
                key_state.waiters.push_back(sender);
                return Ok(Source::InFlight(receiver));
            }
        }
        state.budget.reserve(key_state.memory_bytes())?;
        Ok(Source::Cold {
            spec: Box::new(key_state.spec().clone()),
            memory: key_state.memory_bytes(),
        })
    }

    /// Hands out a ready container, takes over a creation under way, or creates one; only
    /// creates one when `fresh`.
    pub(crate) async fn claim_for(
        &self,
        key: &PoolKey,
        holder: &str,
        fresh: bool,
    ) -> Result<Lease> {
        let started = Instant::now();
        loop {
            let source = self.choose_source(key, fresh);
            self.inner.wake.notify_one();
            let (member, warm) = match source? {
                Source::Ready(member) => match self.take_ready(key, member).await? {
                    Some(member) => (member, true),
                    None => continue,
                },
                Source::InFlight(receiver) => match receiver.await {
                    Ok(Some(member)) => (member, false),
                    // That creation failed (or the pool stopped): try again from the top.
                    Ok(None) | Err(_) => continue,
                },
                Source::Cold { spec, memory } => match self.inner.create_member(key, &spec).await {
                    Ok(member) => (member, false),
                    Err(e) => {
                        self.inner.lock().budget.release(memory);
                        self.inner.bump();
                        return Err(e);
                    }
                },
            };
            if let Some(lease) = self.hand_out(key, member, warm, holder, started).await? {
                return Ok(lease);
            }
        }
    }
}
