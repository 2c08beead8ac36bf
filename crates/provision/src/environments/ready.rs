//! Ready environments: for repos with a main image, environments already set up at the
//! default branch with the dev server running. [`Environments::create`] of the repo takes
//! one instead of a pool container; its first setup, when the request asks for what it runs
//! (the default branch with the settings' defaults) and a fetch finds the branch where it
//! was, is that fetch; otherwise the request is set up in it (the delta from the main
//! image, the dev server restarted). They are
//! records like any other, marked with [`READY_LABEL`] (so a restarted owner finds them
//! again) and left out of [`Environments::list`].

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_core::{CommitId, EnvironmentRecord, EnvironmentStatus, RepoSlug, Result, Timestamp};

use super::setup::EnvironmentEvents;
use super::{EnvironmentEvent, Environments, NewEnvironment};
use crate::provisioner::{event, Phase, SetupRequest};

/// Record label of a ready environment: the commit its dev server runs.
pub const READY_LABEL: &str = "dev.slipway.ready";

/// Whether `record` is a ready environment nobody took yet.
pub(crate) fn is_ready(record: &EnvironmentRecord) -> bool {
    record.labels.contains_key(READY_LABEL)
}

/// Whether `request` asks for what a ready environment runs: the default branch (or no
/// branch), from the configured remote with the service's credentials, without variables
/// or commands of its own.
fn asks_for_default(request: &SetupRequest) -> bool {
    request.remote.is_none()
        && request.credentials.is_none()
        && request.env.is_empty()
        && request.install_command.is_none()
        && request.start_command.is_none()
}

impl Environments {
    /// The repos that get ready environments: the configured ones, then the most recently
    /// set-up others (by this process, else by the environments recorded), as many as the
    /// settings say.
    async fn ready_repos(&self) -> Result<Vec<RepoSlug>> {
        let mut repos = self.settings.ready_repos.clone();
        if self.settings.ready_recent == 0 {
            return Ok(repos);
        }
        let mut recent: Vec<RepoSlug> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut records = self.store.environments().await?;
        records.retain(|record| !is_ready(record));
        records.sort_by_key(|record| std::cmp::Reverse(record.updated_at));
        recent.extend(records.into_iter().filter_map(|record| record.repo));
        for repo in recent {
            if repos.len() == self.settings.ready_repos.len() + self.settings.ready_recent {
                break;
            }
            if !repos.contains(&repo) {
                repos.push(repo);
            }
        }
        Ok(repos)
    }

    /// Remembers that `repo` was just set up (the most recent first, a bounded list).
    pub(super) fn note_set_up(&self, repo: &RepoSlug) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|known| known != repo);
        recent.push_front(repo.clone());
        recent.truncate(self.settings.ready_recent.max(1) * 4);
    }

    /// Ready environments of `repo`, oldest first.
    async fn ready_of(&self, repo: &RepoSlug) -> Result<Vec<EnvironmentRecord>> {
        let mut records = self.store.environments().await?;
        records.retain(|record| is_ready(record) && record.repo.as_ref() == Some(repo));
        Ok(records)
    }

    /// Makes ready environments until every repo the settings name (`ready_repos`, then the
    /// `ready_recent` most recently set-up others) that has a main image of this state's has
    /// `ready_per_repo`, after removing those that failed, were interrupted, fell behind
    /// the default branch or serve a repo no longer named. Returns how many it made.
    pub async fn fill_ready(&self) -> Result<usize> {
        let _filling = self.filling.lock().await;
        let repos = self.ready_repos().await?;
        // Those that failed, were interrupted, or serve a repo no longer wanted.
        for record in self.store.environments().await? {
            let wanted = record
                .repo
                .as_ref()
                .is_some_and(|repo| repos.contains(repo));
            if is_ready(&record) && (record.status != EnvironmentStatus::Ready || !wanted) {
                self.discard_ready(&record.id).await;
            }
        }
        let mut made = 0;
        for repo in repos {
            if !self.provisioner.has_main_image(&repo).await? {
                continue;
            }
            let head = self
                .provisioner
                .default_head(&repo, self.settings.credentials.clone())
                .await?;
            let mut ready = 0;
            for record in self.ready_of(&repo).await? {
                if record.labels.get(READY_LABEL) == Some(&head.to_string()) {
                    ready += 1;
                } else {
                    self.discard_ready(&record.id).await;
                }
            }
            while ready < self.settings.ready_per_repo {
                self.make_ready(&repo, &head).await?;
                ready += 1;
                made += 1;
            }
        }
        Ok(made)
    }

    /// Fills ready environments now, then every `interval` and whenever one was taken, for
    /// as long as the future runs (a server spawns it and aborts it at shutdown). A failed
    /// fill is logged and tried again at the next turn.
    pub async fn keep_ready(&self, interval: Duration) {
        loop {
            if let Err(e) = self.fill_ready().await {
                tracing::warn!(error = %e, "failed to make ready environments");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = self.ready_taken.notified() => {}
            }
        }
    }

    /// Destroys ready environment `id` — unless a create took it meanwhile (checked under
    /// the same lock a create takes one with).
    async fn discard_ready(&self, id: &str) {
        let _taking = self.taking.lock().await;
        let still_ready = match self.store.environment(id).await {
            Ok(record) => record.as_ref().is_some_and(is_ready),
            Err(e) => {
                tracing::warn!(environment = %id, error = %e, "failed to read a ready environment");
                false
            }
        };
        if still_ready {
            if let Err(e) = self.destroy(id).await {
                tracing::warn!(environment = %id, error = %e, "failed to remove a ready environment");
            }
        }
    }

    /// One ready environment of `repo`: created hidden (marked before it exists, so a crash
    /// halfway leaves a record the next fill removes), set up at the default branch.
    async fn make_ready(&self, repo: &RepoSlug, head: &CommitId) -> Result<()> {
        let record = self
            .create(NewEnvironment {
                name: Some(format!("ready-{}", repo.dashed())),
                repo: Some(repo.clone()),
                labels: BTreeMap::from([(READY_LABEL.to_owned(), String::new())]),
                ..NewEnvironment::default()
            })
            .await?;
        // `head` was read before the setup: should the branch move meanwhile, the mark is
        // older than the tree, and the taker sets up again rather than trusting a stale tree.
        let mut request = SetupRequest::new(repo.clone());
        request.build_main_image = true;
        match self.setup(&record.id, request, None).await {
            Ok(mut record) => {
                record
                    .labels
                    .insert(READY_LABEL.to_owned(), head.to_string());
                self.store.put_environment(&record).await
            }
            Err(error) => {
                self.discard_ready(&record.id).await;
                Err(error)
            }
        }
    }

    /// Takes a ready environment of `new`'s repo for it, when `new` asks for nothing a
    /// ready one doesn't have (no image, ports, store, memory of its own, not cold):
    /// renamed, unmarked, given `new`'s metadata. The commit it runs is remembered, so that
    /// the setup that follows ([`Self::settle_taken`]) is a fetch when nothing moved.
    pub(super) async fn take_ready(
        &self,
        new: &NewEnvironment,
    ) -> Result<Option<EnvironmentRecord>> {
        let Some(repo) = &new.repo else {
            return Ok(None);
        };
        if self.settings.ready_repos.is_empty() && self.settings.ready_recent == 0 {
            return Ok(None);
        }
        // A ready environment being made takes none.
        let plain = !new.labels.contains_key(READY_LABEL)
            && new.image.is_none()
            && new.ports.is_empty()
            && new.volume.is_none()
            && !new.cold
            && new
                .memory_bytes
                .is_none_or(|bytes| bytes == self.settings.memory_bytes);
        if !plain {
            return Ok(None);
        }
        let _taking = self.taking.lock().await;
        let Some(mut record) = self
            .ready_of(repo)
            .await?
            .into_iter()
            // Marked with its commit only once its setup is done.
            .find(|record| {
                record.status == EnvironmentStatus::Ready
                    && record
                        .labels
                        .get(READY_LABEL)
                        .is_some_and(|c| !c.is_empty())
            })
        else {
            return Ok(None);
        };
        let commit = record.labels.remove(READY_LABEL).unwrap_or_default();
        record.name = new.name.clone().unwrap_or_else(|| repo.dashed());
        record.labels.extend(new.labels.clone());
        record.idempotency_key.clone_from(&new.idempotency_key);
        record.auto_stop_minutes = new.auto_stop_minutes;
        record.updated_at = Timestamp::now();
        self.store.put_environment(&record).await?;
        self.taken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(record.id.clone(), commit);
        self.ready_taken.notify_one();
        Ok(Some(record))
    }

    /// For the first setup of a taken ready environment: when the request asks for what it
    /// runs and a fetch finds the default branch where it was, the environment is ready as
    /// it is (`Some`, the event sent); `None` means set it up as usual (from the main image:
    /// the delta, the dependencies linked, the dev server restarted).
    pub(super) async fn settle_taken(
        &self,
        record: &EnvironmentRecord,
        request: &SetupRequest,
        events: Option<&EnvironmentEvents>,
    ) -> Option<EnvironmentRecord> {
        let commit = self
            .taken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&record.id)?;
        let asked = request.branch.is_none() || request.branch == record.branch;
        if !asks_for_default(request) || !asked {
            return None;
        }
        // The one round trip: a fetch, normally with nothing new.
        let head = self
            .provisioner
            .default_head(&request.repo, self.settings.credentials.clone())
            .await
            .ok()?;
        if head.as_str() != commit {
            return None;
        }
        if let Some(events) = events {
            let log = vec![format!(
                "a ready environment at {} took over",
                &commit[..12.min(commit.len())]
            )];
            let ready = event(Phase::Ready, false, Some(Duration::ZERO), log, None);
            let _ = events.send(EnvironmentEvent {
                environment: record.id.clone(),
                event: ready,
            });
        }
        Some(record.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioner::EnvValue;

    use std::sync::Arc;

    use slipway_core::{EnvironmentStore, InstanceId};
    use slipway_testkit::{FakeRepoCache, FakeRuntime, MemoryStore};

    use crate::provisioner::{ProvisionConfig, Provisioner};

    fn slug(text: &str) -> RepoSlug {
        text.parse().unwrap()
    }

    /// Environments over an in-memory engine and store, `me/app` configured ready.
    async fn environments(store: &MemoryStore) -> Environments {
        let fake = FakeRuntime::new();
        let provisioner = Provisioner::new(
            Arc::new(fake.clone()),
            Arc::new(FakeRepoCache::new()),
            InstanceId::new("inst"),
            ProvisionConfig::default(),
        )
        .unwrap();
        let pool = slipway_pool::WarmPool::builder(Arc::new(fake.clone()), Arc::new(store.clone()))
            .start()
            .await
            .unwrap();
        Environments::new(
            Arc::new(fake),
            Arc::new(pool),
            Arc::new(store.clone()),
            Arc::new(provisioner),
            super::super::EnvironmentSettings {
                ready_repos: vec![slug("me/app")],
                ready_recent: 2,
                ..Default::default()
            },
        )
    }

    #[tokio::test]
    async fn configured_repos_come_first_then_the_most_recently_set_up() {
        let environments = environments(&MemoryStore::new("inst")).await;
        assert_eq!(environments.ready_repos().await.unwrap(), [slug("me/app")]);
        for repo in ["me/old", "me/app", "me/mid", "me/new"] {
            environments.note_set_up(&slug(repo));
        }
        assert_eq!(
            environments.ready_repos().await.unwrap(),
            [slug("me/app"), slug("me/new"), slug("me/mid")]
        );
    }

    #[tokio::test]
    async fn only_a_finished_ready_environment_is_taken_and_only_once() {
        let store = MemoryStore::new("inst");
        let environments = environments(&store).await;
        let now = Timestamp::now();
        let record = |id: &str, commit: &str| EnvironmentRecord {
            id: id.into(),
            name: format!("ready-{id}"),
            container_id: Some(slipway_core::ContainerId::new(format!("c-{id}"))),
            image: "node:1".parse().unwrap(),
            pool_key: None,
            repo: Some(slug("me/app")),
            branch: Some("main".parse().unwrap()),
            host_port: Some(10001),
            memory_bytes: 1,
            status: EnvironmentStatus::Ready,
            error: None,
            created_at: now,
            updated_at: now,
            ports: Vec::new(),
            labels: BTreeMap::from([(READY_LABEL.to_owned(), commit.to_owned())]),
            phases: Vec::new(),
            idempotency_key: None,
            from_pool: false,
            auto_stop_minutes: None,
        };
        // Set up, but not yet marked with its commit: still being made.
        store.put_environment(&record("making", "")).await.unwrap();
        let new = NewEnvironment {
            name: Some("web".into()),
            repo: Some(slug("me/app")),
            ..NewEnvironment::default()
        };
        assert_eq!(environments.take_ready(&new).await.unwrap(), None);
        store
            .put_environment(&record("done", &"c".repeat(40)))
            .await
            .unwrap();
        let taken = environments.take_ready(&new).await.unwrap().unwrap();
        assert_eq!((taken.id.as_str(), taken.name.as_str()), ("done", "web"));
        assert!(!is_ready(&taken));
        assert_eq!(environments.take_ready(&new).await.unwrap(), None);
        // Asking for an image of its own takes none.
        let own_image = NewEnvironment {
            image: Some("node:2".parse().unwrap()),
            ..new
        };
        assert_eq!(environments.take_ready(&own_image).await.unwrap(), None);
    }

    #[test]
    fn only_a_request_with_the_defaults_is_served_as_it_is() {
        let plain = SetupRequest::new("me/app".parse().unwrap());
        assert!(asks_for_default(&plain));
        // The branch is compared with the ready one's after the fetch.
        assert!(asks_for_default(
            &plain.clone().with_branch("main".parse().unwrap())
        ));
        let mut with_env = plain.clone();
        with_env
            .env
            .insert("API_TOKEN".into(), EnvValue::secret("t"));
        let mut with_command = plain.clone();
        with_command.start_command = Some("npm start".into());
        let mut with_install = plain.clone();
        with_install.install_command = Some("npm i".into());
        for other in [with_env, with_command, with_install] {
            assert!(!asks_for_default(&other), "{other:?}");
        }
    }
}
