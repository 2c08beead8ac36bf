//! Container lifecycle events from the engine's event stream.

use std::collections::HashMap;

use bollard::query_parameters::EventsOptions;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use slipway_core::{ContainerAction, ContainerEvent, ContainerId, LabelFilter, Result, Timestamp};

use crate::error::RuntimeError;
use crate::DockerRuntime;

impl DockerRuntime {
    pub(crate) fn events_stream(
        &self,
        filter: &LabelFilter,
    ) -> BoxStream<'static, Result<ContainerEvent>> {
        let mut filters: HashMap<String, Vec<String>> = crate::convert::label_filters(filter);
        filters.insert("type".into(), vec!["container".into()]);
        // The request goes out when the stream is first polled; asking for events since now
        // (less a second of clock skew for remote engines) makes "from now on" hold anyway.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(std::time::Duration::from_secs(1));
        let options = EventsOptions {
            since: Some(format!("{}.{:09}", since.as_secs(), since.subsec_nanos())),
            until: None,
            filters: Some(filters),
        };
        let runtime = self.clone();
        self.docker
            .events(Some(options))
            .map(move |message| {
                let message = message
                    .map_err(|source| runtime.core_error(RuntimeError::Events { source }))?;
                let actor = message.actor.unwrap_or_default();
                let attributes = actor.attributes.unwrap_or_default();
                let exit_code = attributes
                    .get("exitCode")
                    .and_then(|code| code.parse().ok());
                Ok(ContainerEvent {
                    id: ContainerId::new(actor.id.unwrap_or_default()),
                    action: ContainerAction::from_engine(
                        message.action.as_deref().unwrap_or_default(),
                    ),
                    // The engine mixes the container's labels with `image`, `name` and such.
                    labels: attributes.into_iter().collect(),
                    exit_code,
                    at: Timestamp::from_unix_millis(message.time_nano.map_or_else(
                        || message.time.unwrap_or_default().saturating_mul(1000),
                        |nanos| nanos / 1_000_000,
                    )),
                })
            })
            .boxed()
    }
}
