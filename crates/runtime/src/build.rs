//! Image builds through the engine's embedded BuildKit (with a session, as BuildKit needs).

use async_trait::async_trait;
use std::collections::HashMap;

use bollard::models::BuildInfoAux;
use bollard::query_parameters::{BuildImageOptions, BuilderVersion};
use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{BuildOutcome, BuildRequest, Error, ImageId, Result};

use crate::error::RuntimeError;
use crate::DockerRuntime;

fn session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("slipway-{nanos:x}-{:x}", std::process::id())
}

fn build_options(request: &BuildRequest) -> BuildImageOptions {
    let map = |m: &std::collections::BTreeMap<String, String>| -> Option<HashMap<String, String>> {
        (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    };
    BuildImageOptions {
        dockerfile: request.dockerfile.clone(),
        t: Some(request.tag.to_string()),
        labels: map(&request.labels),
        buildargs: map(&request.build_args),
        target: request.target.clone().unwrap_or_default(),
        nocache: request.no_cache,
        rm: true,
        version: BuilderVersion::BuilderBuildKit,
        session: Some(session_id()),
        ..BuildImageOptions::default()
    }
}

#[async_trait]
impl ImageBuild for DockerRuntime {
    async fn build_image(&self, request: &BuildRequest) -> Result<BuildOutcome> {
        let build_error = |source| RuntimeError::Build {
            image: request.tag.to_string(),
            source,
        };
        let mut stream = self.docker.build_image(
            build_options(request),
            None,
            Some(bollard::body_full(request.context.clone().into())),
        );
        let mut log = Vec::new();
        let mut image_id = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|source| self.core_error(build_error(source)))?;
            if let Some(text) = info.stream.filter(|s| !s.trim().is_empty()) {
                log.push(text.trim_end().to_owned());
            }
            match info.aux {
                Some(BuildInfoAux::Default(id)) => image_id = id.id.or(image_id),
                Some(BuildInfoAux::BuildKit(status)) => {
                    for vertex in status.vertexes.iter().filter(|v| v.completed.is_some()) {
                        let cached = if vertex.cached { " (cached)" } else { "" };
                        log.push(format!("{}{cached}", vertex.name));
                        if !vertex.error.is_empty() {
                            log.push(format!("error: {}", vertex.error));
                        }
                    }
                    for entry in &status.logs {
                        log.extend(
                            String::from_utf8_lossy(&entry.msg)
                                .lines()
                                .map(str::to_owned),
                        );
                    }
                }
                None => {}
            }
        }
        let image_id = match image_id {
            Some(id) => ImageId::new(id),
            // Older engines do not report the id; the tag points at the result.
            None => self
                .inspect_image(&request.tag)
                .await
                .map(|info| info.id)
                .map_err(|e| {
                    Error::backend(format!(
                        "failed to build image {}: built, but the result is missing: {e}",
                        request.tag
                    ))
                })?,
        };
        Ok(BuildOutcome { image_id, log })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_use_buildkit_with_a_fresh_session() {
        let request = BuildRequest::new(Vec::new(), "slipway/test:1".parse().unwrap());
        let a = build_options(&request);
        let b = build_options(&request);
        assert_eq!(a.version, BuilderVersion::BuilderBuildKit);
        assert!(a.session.is_some());
        assert_eq!(a.t.as_deref(), Some("slipway/test:1"));
        assert!(a.rm);
        assert!(b.session.is_some());
        assert_ne!(
            a.session, b.session,
            "every build gets a session of its own"
        );
    }
}
