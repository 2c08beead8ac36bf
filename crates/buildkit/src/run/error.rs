//! [`RunError`]: which step of a run failed, for which run, with the error underneath.

use slipway_core::{Error, ErrorKind, RunId};

use super::failpoint::Step;

/// A failed step of creating a run. The kind is the underlying error's (a network name clash
/// stays `Conflict`, an unreachable registry `Unavailable`), and [`RunError::run_id`] names the
/// run that was recorded before the step failed, so a caller can show or clean it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The run was refused before anything was recorded or created.
    #[error(transparent)]
    Refused(Error),
    /// The run's record could not be written.
    #[error("failed to record run {run}")]
    Record {
        /// The run.
        run: RunId,
        /// Why.
        #[source]
        source: Error,
    },
    /// The run's memory could not be reserved: the state's budget is full (or the store
    /// failed).
    #[error("failed to reserve memory for run {run}")]
    Reserve {
        /// The run.
        run: RunId,
        /// Why.
        #[source]
        source: Error,
    },
    /// The run's private network could not be created.
    #[error("failed to create the network {name} of run {run}")]
    CreateNetwork {
        /// The run.
        run: RunId,
        /// The network's name.
        name: String,
        /// Why.
        #[source]
        source: Error,
    },
    /// The sidecar image is not on the engine and could not be pulled.
    #[error("failed to pull the BuildKit image {image} for run {run}; make it available or set buildkit.image")]
    SidecarImage {
        /// The run.
        run: RunId,
        /// The image.
        image: String,
        /// Why.
        #[source]
        source: Error,
    },
    /// The BuildKit state volume could not be created or reused.
    #[error("failed to prepare the BuildKit state volume of run {run}")]
    StateVolume {
        /// The run.
        run: RunId,
        /// Why.
        #[source]
        source: Error,
    },
    /// The sidecar container could not be created or started.
    #[error("failed to start the BuildKit sidecar of run {run}")]
    StartSidecar {
        /// The run.
        run: RunId,
        /// Why.
        #[source]
        source: Error,
    },
    /// The sidecar started but did not pass its health probe.
    #[error("the BuildKit sidecar of run {run} did not become healthy")]
    SidecarUnhealthy {
        /// The run.
        run: RunId,
        /// Why (its last output included).
        #[source]
        source: Error,
    },
    /// The main container could not be created or started.
    #[error("failed to start the main container of run {run}{hint}")]
    StartMain {
        /// The run.
        run: RunId,
        /// What to try instead, when there is something to try.
        hint: &'static str,
        /// Why.
        #[source]
        source: Error,
    },
    /// The volume for the inner daemon's storage could not be made.
    #[error("failed to create the inner daemon's storage volume of run {run}")]
    DockerVolume {
        /// The run.
        run: RunId,
        /// Why.
        #[source]
        source: Error,
    },
    /// The inner Docker daemon did not come up, or images could not be loaded into it.
    #[error("the inner Docker daemon of run {run} is not usable")]
    InnerDaemon {
        /// The run.
        run: RunId,
        /// Why, with what the daemon printed.
        #[source]
        source: Error,
    },
    /// A test failpoint interrupted creation (feature `failpoints`).
    #[error("failpoint after {step:?} in run {run}")]
    Failpoint {
        /// The run.
        run: RunId,
        /// The step after which it fired.
        step: Step,
    },
}

impl RunError {
    /// The kind of the error underneath.
    pub fn kind(&self) -> ErrorKind {
        self.source_error().map_or(ErrorKind::Backend, Error::kind)
    }

    /// The run that was recorded before the failure (none when it was refused up front).
    pub fn run_id(&self) -> Option<&RunId> {
        match self {
            RunError::Refused(_) => None,
            RunError::Record { run, .. }
            | RunError::Reserve { run, .. }
            | RunError::CreateNetwork { run, .. }
            | RunError::SidecarImage { run, .. }
            | RunError::StateVolume { run, .. }
            | RunError::StartSidecar { run, .. }
            | RunError::SidecarUnhealthy { run, .. }
            | RunError::StartMain { run, .. }
            | RunError::DockerVolume { run, .. }
            | RunError::InnerDaemon { run, .. }
            | RunError::Failpoint { run, .. } => Some(run),
        }
    }

    fn source_error(&self) -> Option<&Error> {
        match self {
            RunError::Refused(source)
            | RunError::Record { source, .. }
            | RunError::Reserve { source, .. }
            | RunError::CreateNetwork { source, .. }
            | RunError::SidecarImage { source, .. }
            | RunError::StateVolume { source, .. }
            | RunError::StartSidecar { source, .. }
            | RunError::SidecarUnhealthy { source, .. }
            | RunError::StartMain { source, .. }
            | RunError::DockerVolume { source, .. }
            | RunError::InnerDaemon { source, .. } => Some(source),
            RunError::Failpoint { .. } => None,
        }
    }
}

impl From<RunError> for Error {
    /// The same message as context over the error underneath, so the kind survives.
    fn from(error: RunError) -> Error {
        let context = error.to_string();
        match error {
            RunError::Refused(source) => source,
            RunError::Failpoint { .. } => Error::backend(context),
            RunError::Record { source, .. }
            | RunError::Reserve { source, .. }
            | RunError::CreateNetwork { source, .. }
            | RunError::SidecarImage { source, .. }
            | RunError::StateVolume { source, .. }
            | RunError::StartSidecar { source, .. }
            | RunError::SidecarUnhealthy { source, .. }
            | RunError::StartMain { source, .. }
            | RunError::DockerVolume { source, .. }
            | RunError::InnerDaemon { source, .. } => source.context(context),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run() -> RunId {
        RunId::new("3f2a")
    }

    #[test]
    fn a_network_name_clash_is_a_conflict_naming_the_network_and_the_run() {
        let error = RunError::CreateNetwork {
            run: run(),
            name: "slipway-3f2a".into(),
            source: Error::Conflict("network `slipway-3f2a` already exists".into()),
        };
        assert_eq!(error.kind(), ErrorKind::Conflict);
        assert_eq!(error.run_id(), Some(&run()));
        let core = Error::from(error);
        assert_eq!(core.kind(), ErrorKind::Conflict);
        assert_eq!(
            core.to_string(),
            "failed to create the network slipway-3f2a of run 3f2a: conflict: network \
             `slipway-3f2a` already exists"
        );
    }

    #[test]
    fn an_unreachable_registry_stays_unavailable() {
        let error = RunError::SidecarImage {
            run: run(),
            image: "moby/buildkit:v0.23.2".into(),
            source: Error::Unavailable {
                endpoint: "registry-1.docker.io".into(),
                reason: "connection refused".into(),
            },
        };
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert_eq!(Error::from(error).kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn a_missing_image_stays_not_found_and_a_refusal_records_no_run() {
        let missing = RunError::StartMain {
            run: run(),
            hint: "",
            source: Error::not_found("image `nope:1`"),
        };
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let refused = RunError::Refused(Error::invalid("docker mode", "remote engine"));
        assert_eq!(refused.kind(), ErrorKind::Invalid);
        assert_eq!(refused.run_id(), None);
        let timeout = RunError::SidecarUnhealthy {
            run: run(),
            source: Error::Timeout {
                operation: "the probe".into(),
                after: Duration::from_secs(10),
            },
        };
        assert_eq!(Error::from(timeout).kind(), ErrorKind::Timeout);
    }
}
