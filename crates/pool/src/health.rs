//! Eviction of ready containers that die or are removed behind the pool's back, from the
//! engine's event stream (a claim also checks, so a dead container is never handed out).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use slipway_core::ContainerId;

use crate::inner::Inner;

/// How long to wait before following the event stream again after it broke.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

pub(crate) async fn watch(inner: Arc<Inner>) {
    let filter = inner.scope().filter();
    loop {
        let mut events = inner.runtime.container_events(&filter);
        loop {
            tokio::select! {
                () = inner.cancel.cancelled() => return,
                next = events.next() => match next {
                    Some(Ok(event)) if event.action.ends_it() => gone(&inner, &event.id).await,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "lost the engine's event stream; following it again");
                        break;
                    }
                    None => break,
                },
            }
        }
        tokio::select! {
            () = inner.cancel.cancelled() => return,
            () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
        }
    }
}

/// If `id` was ready in some pool, evict it and ask for a replacement.
async fn gone(inner: &Arc<Inner>, id: &ContainerId) {
    let found = {
        let mut state = inner.lock();
        state.keys.iter_mut().find_map(|(key, pool)| {
            let at = pool.ready.iter().position(|m| &m.id == id)?;
            Some((key.clone(), pool.ready.remove(at)?))
        })
    };
    if let Some((key, member)) = found {
        tracing::info!(container = %id, pool = %key, "a ready container died; replacing it");
        inner.evict(&key, member).await;
    }
}
