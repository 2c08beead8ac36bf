use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use slipway_core::{
    ContainerAction, ContainerEvent, ContainerId, ContainerSpec, ContainerState, EngineInfo, Error,
    ErrorKind, ExecOutcome, ExecRequest, LabelFilter, Labels, LogLine, Result, Timestamp,
};

/// One call the fake received: the operation and what it targeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// The trait method, e.g. `create_container`.
    pub op: &'static str,
    /// The id, name or image it was about.
    pub target: String,
}

type ExecHandler = Arc<dyn Fn(&ContainerId, &ExecRequest) -> ExecOutcome + Send + Sync>;
pub(crate) type EventSender = futures_channel::mpsc::UnboundedSender<Result<ContainerEvent>>;

/// An in-memory engine implementing [`Runtime`](slipway_core::Runtime) and
/// [`Network`](slipway_core::Network): it keeps containers, images, volumes and networks, records
/// every call, and can be told to fail the Nth call or the next calls of one operation.
///
/// ```
/// use slipway_core::ErrorKind;
/// use slipway_testkit::FakeRuntime;
///
/// let fake = FakeRuntime::new().with_image("busybox:1");
/// fake.fail_nth_call(2, ErrorKind::Unavailable); // the second call from now fails
/// assert!(fake.calls().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct FakeRuntime {
    pub(crate) state: Arc<Mutex<FakeState>>,
}

#[derive(Default)]
pub(crate) struct FakeState {
    pub(crate) calls: Vec<FakeCall>,
    pub(crate) fail_at_call: BTreeMap<usize, ErrorKind>,
    pub(crate) fail_op: BTreeMap<&'static str, VecDeque<ErrorKind>>,
    pub(crate) next_id: u64,
    pub(crate) containers: BTreeMap<String, FakeContainer>,
    pub(crate) images: BTreeMap<String, Labels>,
    pub(crate) volumes: BTreeMap<String, Labels>,
    pub(crate) networks: BTreeMap<String, (String, Labels, Vec<ContainerId>)>,
    pub(crate) busy_host_ports: BTreeSet<u16>,
    pub(crate) logs: BTreeMap<String, Vec<LogLine>>,
    pub(crate) tty_input: Vec<u8>,
    pub(crate) exec_handler: Option<ExecHandler>,
    pub(crate) watchers: Vec<(LabelFilter, EventSender)>,
    pub(crate) holding: BTreeSet<&'static str>,
    pub(crate) held: Vec<(&'static str, futures_channel::oneshot::Sender<()>)>,
    pub(crate) total_memory_bytes: u64,
}

/// A container as the fake keeps it.
#[derive(Debug, Clone)]
pub(crate) struct FakeContainer {
    pub(crate) id: ContainerId,
    pub(crate) name: String,
    pub(crate) spec: ContainerSpec,
    pub(crate) state: ContainerState,
    pub(crate) exit_code: Option<i64>,
    pub(crate) oom_killed: bool,
    pub(crate) created: Timestamp,
    pub(crate) host_ports: Vec<(u16, u16)>,
}

impl FakeRuntime {
    /// An empty engine with 16 GiB of memory and no images.
    pub fn new() -> Self {
        let fake = Self::default();
        fake.lock().total_memory_bytes = 16 << 30;
        fake
    }

    /// Makes `image` present.
    pub fn with_image(self, image: &str) -> Self {
        self.lock().images.insert(image.to_owned(), Labels::new());
        self
    }

    /// Makes `image` present with `labels`.
    pub fn with_labelled_image(self, image: &str, labels: Labels) -> Self {
        self.lock().images.insert(image.to_owned(), labels);
        self
    }

    /// Sets the memory the engine reports.
    pub fn with_total_memory(self, bytes: u64) -> Self {
        self.lock().total_memory_bytes = bytes;
        self
    }

    /// Answers every exec with `handler` (default: exit 0, no output).
    pub fn with_exec_handler(
        self,
        handler: impl Fn(&ContainerId, &ExecRequest) -> ExecOutcome + Send + Sync + 'static,
    ) -> Self {
        self.lock().exec_handler = Some(Arc::new(handler));
        self
    }

    /// Fails the `n`th call from now (1 = the next call) with an error of `kind`.
    pub fn fail_nth_call(&self, n: usize, kind: ErrorKind) {
        let mut state = self.lock();
        let at = state.calls.len() + n;
        state.fail_at_call.insert(at, kind);
    }

    /// Fails the next `times` calls of `op` with an error of `kind`.
    pub fn fail_op(&self, op: &'static str, kind: ErrorKind, times: usize) {
        let mut state = self.lock();
        let queue = state.fail_op.entry(op).or_default();
        queue.extend(std::iter::repeat_n(kind, times));
    }

    /// Pretends a process outside the engine holds `port`.
    pub fn occupy_host_port(&self, port: u16) {
        self.lock().busy_host_ports.insert(port);
    }

    /// Makes a running container exit behind everyone's back (optionally OOM-killed), and
    /// tells event watchers as an engine would.
    pub fn kill_behind_the_back(&self, id: &ContainerId, oom: bool) {
        let mut state = self.lock();
        if let Some(container) = state.find_mut(id.as_str()) {
            container.state = ContainerState::Exited;
            container.exit_code = Some(137);
            container.oom_killed = oom;
            let id = container.id.clone();
            if oom {
                state.emit(&id, ContainerAction::Oom);
            }
            state.emit(&id, ContainerAction::Die);
        }
    }

    /// Removes a container behind everyone's back, as `docker rm -f` from a shell would.
    pub fn remove_behind_the_back(&self, id: &ContainerId) {
        let mut state = self.lock();
        if let Some(container) = state.find(id.as_str()).cloned() {
            if container.state.is_running() {
                state.emit(&container.id, ContainerAction::Die);
            }
            state.emit(&container.id, ContainerAction::Destroy);
            state.containers.remove(container.id.as_str());
        }
    }

    /// Sets the lines [`Runtime::logs`](slipway_core::Containers::logs) returns for a container.
    pub fn set_logs(&self, id: &ContainerId, lines: Vec<LogLine>) {
        self.lock().logs.insert(id.to_string(), lines);
    }

    /// From now on, calls of `op` wait (after being recorded) until released, so a test can
    /// see how many run at once.
    pub fn hold(&self, op: &'static str) {
        self.lock().holding.insert(op);
    }

    /// How many calls of `op` are waiting.
    pub fn held(&self, op: &str) -> usize {
        self.lock()
            .held
            .iter()
            .filter(|(held_op, _)| *held_op == op)
            .count()
    }

    /// Lets up to `n` waiting calls of `op` go on.
    pub fn release_held(&self, op: &str, n: usize) {
        let mut state = self.lock();
        let mut released = 0;
        state.held.retain_mut(|(held_op, _)| {
            let go = *held_op == op && released < n;
            released += usize::from(go);
            !go
        });
    }

    /// Stops holding `op` and lets every waiting call go on.
    pub fn unhold(&self, op: &'static str) {
        let mut state = self.lock();
        state.holding.remove(op);
        state.held.retain(|(held_op, _)| *held_op != op);
    }

    /// Waits while calls of `op` are held (no-op unless [`FakeRuntime::hold`] was called).
    pub(crate) async fn gate(&self, op: &'static str) {
        let receiver = {
            let mut state = self.lock();
            if !state.holding.contains(op) {
                return;
            }
            let (sender, receiver) = futures_channel::oneshot::channel();
            state.held.push((op, sender));
            receiver
        };
        // Released or dropped: either way the call goes on.
        let _ = receiver.await;
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// How many calls of `op` were made.
    pub fn call_count(&self, op: &str) -> usize {
        self.lock().calls.iter().filter(|c| c.op == op).count()
    }

    /// Ids of the containers that exist, in creation order.
    pub fn container_ids(&self) -> Vec<ContainerId> {
        let state = self.lock();
        let mut containers: Vec<_> = state.containers.values().collect();
        containers.sort_by_key(|c| (c.created, c.id.clone()));
        containers.iter().map(|c| c.id.clone()).collect()
    }

    /// Names of the networks that exist.
    pub fn network_names(&self) -> Vec<String> {
        self.lock()
            .networks
            .values()
            .map(|(name, _, _)| name.clone())
            .collect()
    }

    /// Names of the volumes that exist.
    pub fn volume_names(&self) -> Vec<String> {
        self.lock().volumes.keys().cloned().collect()
    }

    /// Bytes written to terminals so far.
    pub fn tty_input(&self) -> Vec<u8> {
        self.lock().tty_input.clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panicking test must not poison the fake for the assertions that follow.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a call and returns the injected failure, if one is due.
    pub(crate) fn enter(
        &self,
        op: &'static str,
        target: impl Into<String>,
    ) -> Result<MutexGuard<'_, FakeState>> {
        let mut state = self.lock();
        let target = target.into();
        state.calls.push(FakeCall {
            op,
            target: target.clone(),
        });
        let n = state.calls.len();
        let injected = state
            .fail_at_call
            .remove(&n)
            .or_else(|| state.fail_op.get_mut(op).and_then(VecDeque::pop_front));
        match injected {
            Some(kind) => Err(injected_error(kind, op, &target)),
            None => Ok(state),
        }
    }
}

impl FakeState {
    pub(crate) fn find(&self, id_or_name: &str) -> Option<&FakeContainer> {
        self.containers
            .get(id_or_name)
            .or_else(|| self.containers.values().find(|c| c.name == id_or_name))
    }

    pub(crate) fn find_mut(&mut self, id_or_name: &str) -> Option<&mut FakeContainer> {
        let id = self.find(id_or_name)?.id.to_string();
        self.containers.get_mut(&id)
    }

    /// Sends an event about `id` to every watcher whose filter matches its labels.
    pub(crate) fn emit(&mut self, id: &ContainerId, action: ContainerAction) {
        let Some(labels) = self
            .containers
            .get(id.as_str())
            .map(|c| c.spec.labels.clone())
        else {
            return;
        };
        let exit_code = self.containers.get(id.as_str()).and_then(|c| c.exit_code);
        let event = ContainerEvent {
            id: id.clone(),
            action,
            labels: labels.clone(),
            exit_code,
            at: Timestamp::now(),
        };
        self.watchers.retain(|(filter, sender)| {
            !filter.matches(&labels) || sender.unbounded_send(Ok(event.clone())).is_ok()
        });
    }

    pub(crate) fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:012x}", self.next_id)
    }
}

/// An error of `kind` as a real engine would phrase it.
fn injected_error(kind: ErrorKind, op: &str, target: &str) -> Error {
    let what = format!("injected failure of {op} on `{target}`");
    match kind {
        ErrorKind::NotFound => Error::not_found(what),
        ErrorKind::Conflict => Error::Conflict(what),
        ErrorKind::Invalid => Error::invalid(op, what),
        ErrorKind::Unavailable => Error::Unavailable {
            endpoint: "fake engine".into(),
            reason: what,
        },
        ErrorKind::Timeout => Error::Timeout {
            operation: what,
            after: std::time::Duration::from_secs(1),
        },
        ErrorKind::CapacityExceeded => Error::CapacityExceeded(what),
        _ => Error::backend(what),
    }
}

/// The info a fake engine reports.
pub(crate) fn fake_info(state: &FakeState) -> EngineInfo {
    EngineInfo {
        name: "fake".into(),
        server_version: "0.0.0-fake".into(),
        total_memory_bytes: state.total_memory_bytes,
        cpus: 2,
        storage_driver: "fake".into(),
        cgroup_driver: "none".into(),
        cgroup_version: "2".into(),
        operating_system: "fake".into(),
        containers_running: state
            .containers
            .values()
            .filter(|c| c.state.is_running())
            .count() as u64,
    }
}
