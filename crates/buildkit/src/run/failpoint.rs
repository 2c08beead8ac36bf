//! Test-only interruptions between the steps of a run's creation (feature `failpoints`).
//! Without the feature every check is a no-op.

use slipway_core::RunId;

use super::error::RunError;

/// A point in a run's creation, after the named step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The intent record is written.
    Recorded,
    /// The private network exists.
    NetworkCreated,
    /// The sidecar container runs.
    SidecarStarted,
    /// The sidecar passed its probe.
    SidecarHealthy,
    /// The main container runs (the record still says `creating`). When slipway starts
    /// the inner daemon, this comes before [`Step::SidecarHealthy`]: the daemon boots
    /// while the sidecar becomes healthy.
    MainStarted,
}

impl Step {
    /// Every step, in the order of a run without the inner daemon.
    pub const ALL: [Step; 5] = [
        Step::Recorded,
        Step::NetworkCreated,
        Step::SidecarStarted,
        Step::SidecarHealthy,
        Step::MainStarted,
    ];
}

/// What happens at a failpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// The step fails: creation undoes what it made.
    Error,
    /// The process "dies": creation stops where it is, nothing is undone.
    Crash,
}

/// Why creation stopped.
pub(crate) enum Interrupt {
    /// An error: undo and record the failure.
    Failed(RunError),
    /// A simulated crash: leave everything for `recover`.
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    Crashed(RunError),
}

impl From<RunError> for Interrupt {
    fn from(error: RunError) -> Self {
        Interrupt::Failed(error)
    }
}

#[derive(Default)]
pub(crate) struct Failpoints {
    #[cfg(feature = "failpoints")]
    armed: std::sync::Mutex<Option<(Step, FailAction)>>,
}

impl Failpoints {
    #[cfg(feature = "failpoints")]
    pub(crate) fn set(&self, step: Step, action: FailAction) {
        *self.armed.lock().expect("failpoints lock") = Some((step, action));
    }

    #[cfg(feature = "failpoints")]
    pub(crate) fn check(&self, step: Step, run: &RunId) -> Result<(), Interrupt> {
        let armed = *self.armed.lock().expect("failpoints lock");
        let error = || RunError::Failpoint {
            run: run.clone(),
            step,
        };
        match armed {
            Some((at, FailAction::Error)) if at == step => Err(Interrupt::Failed(error())),
            Some((at, FailAction::Crash)) if at == step => Err(Interrupt::Crashed(error())),
            _ => Ok(()),
        }
    }

    #[cfg(not(feature = "failpoints"))]
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    pub(crate) fn check(&self, _step: Step, _run: &RunId) -> Result<(), Interrupt> {
        Ok(())
    }
}
