//! Setting up environments end to end on a real engine with the Debian+node test image:
//! repo cache → container → npm ci into the repo's dependency store → dev server → HTTP.

use std::sync::Arc;
use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{
    run_container, ContainerSpec, EnvironmentStatus, ErrorKind, GitCredentials, Mount,
    RemoveOptions,
};
use slipway_pool::{MemoryBudget, PoolSettings, WarmPool};
use slipway_provision::{
    AppStorage, EnvValue, EnvironmentEvent, EnvironmentSettings, Environments, GitRepoCache, Phase,
    ProvisionConfig, Provisioner, SetupEvent, SetupRequest, COMMIT_LABEL, LOCKFILE_LABEL,
};
use slipway_store::SqliteStore;
use slipway_testkit::engine::{TestEngine, TEST_LABEL};
use slipway_testkit::http::get;
use slipway_testkit::synthetic::{node_app, RepoFile, SyntheticRepo};
use slipway_testkit::{free_port_range, Need};

const TOKEN: &str = "tok-must-never-leak-4711";

struct Stack {
    engine: TestEngine,
    environments: Environments,
    provisioner: Arc<Provisioner>,
    pool: WarmPool,
    _repo: SyntheticRepo,
    _dir: tempfile::TempDir,
}

/// A repo with `main`, `feature` (code only) and `deps` (a new dependency version).
fn fixture(dir: &std::path::Path, owner_repo: &str) -> SyntheticRepo {
    let repo = SyntheticRepo::create(&dir.join(format!("{owner_repo}.git"))).unwrap();
    let mut main = node_app("on main", "1.0.0", "hello from greeting");
    main.push(RepoFile::new("docs/old.md", "obsolete\n"));
    repo.commit("main", None, &main, &[], "main").unwrap();
    let feature = node_app("on feature", "1.0.0", "hello from greeting");
    repo.commit(
        "feature",
        Some("main"),
        &feature[2..3],
        &["docs/old.md"],
        "feature",
    )
    .unwrap();
    repo.commit(
        "deps",
        Some("main"),
        &node_app("on deps", "1.1.0", "hello again"),
        &["vendor/greeting-1.0.0.tgz"],
        "deps",
    )
    .unwrap();
    repo
}

async fn stack() -> Option<Stack> {
    stack_with(|_| {}).await
}

/// [`stack`] with `configure` applied to the provisioning config.
async fn stack_with(configure: impl FnOnce(&mut ProvisionConfig)) -> Option<Stack> {
    stack_with_settings(configure, |_, _| {}).await
}

/// [`stack_with`], and `settle` applied to the environments' settings (which get the repo).
async fn stack_with_settings(
    configure: impl FnOnce(&mut ProvisionConfig),
    settle: impl FnOnce(&mut EnvironmentSettings, slipway_core::RepoSlug),
) -> Option<Stack> {
    let engine = TestEngine::connect_with(&[Need::NodeImage]).await?;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> =
        Arc::new(SqliteStore::open_in_dir(&dir.path().join("state")).unwrap());
    let owner_repo = format!("fixture/app-{}", engine.scope());
    let repo = fixture(dir.path(), &owner_repo);
    let template = repo
        .file_url()
        .replace(&format!("{owner_repo}.git"), "{owner}/{repo}.git");
    let cache = Arc::new(
        GitRepoCache::new(dir.path().join("state/repo-cache"))
            .with_url_template(&template)
            .unwrap(),
    );
    let mut config = ProvisionConfig::default();
    config
        .labels
        .insert(TEST_LABEL.into(), engine.scope().into());
    config.ready_timeout = Duration::from_secs(30);
    configure(&mut config);
    let provisioner =
        Arc::new(Provisioner::new(engine.shared(), cache, store.instance_id(), config).unwrap());
    let settings = PoolSettings {
        budget: MemoryBudget::Fixed(4 << 30),
        port_range: free_port_range(100),
        ..PoolSettings::default()
    };
    let pool = WarmPool::builder(engine.shared(), store.clone())
        .with_settings(settings)
        .start()
        .await
        .unwrap();
    let mut settings = EnvironmentSettings {
        base_image: engine.node(),
        memory_bytes: 512 << 20,
        warm_per_repo: 0,
        warm_base: 0,
        credentials: None,
        ..EnvironmentSettings::default()
    };
    settle(&mut settings, owner_repo.parse().unwrap());
    let environments = Environments::new(
        engine.shared(),
        Arc::new(pool.clone()),
        store,
        Arc::clone(&provisioner),
        settings,
    );
    Some(Stack {
        engine,
        environments,
        provisioner,
        pool,
        _repo: repo,
        _dir: dir,
    })
}

fn request(stack: &Stack, branch: &str) -> SetupRequest {
    let repo = format!("fixture/app-{}", stack.engine.scope());
    let mut request = SetupRequest::new(repo.parse().unwrap()).with_branch(branch.parse().unwrap());
    request.credentials = Some(GitCredentials {
        username: "x-access-token".into(),
        secret: slipway_core::Secret::new(TOKEN),
    });
    request
        .env
        .insert("API_TOKEN".into(), EnvValue::secret(TOKEN));
    request
        .env
        .insert("NODE_ENV".into(), EnvValue::plain("development"));
    request
}

/// Runs `up`, collecting the events.
async fn up(
    stack: &Stack,
    request: SetupRequest,
) -> (
    slipway_core::Result<slipway_core::EnvironmentRecord>,
    Vec<SetupEvent>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let result = stack.environments.up(None, request, Some(sender)).await;
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        let event: EnvironmentEvent = event;
        if let Ok(record) = &result {
            assert_eq!(
                event.environment, record.id,
                "events name their environment"
            );
        }
        events.push(event.event);
    }
    (result, events)
}

fn log_of(events: &[SetupEvent], phase: Phase) -> String {
    events
        .iter()
        .filter(|e| e.phase == phase && !e.started)
        .flat_map(|e| e.log.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repo_becomes_a_dev_server_and_branches_start_from_its_main_image() {
    let Some(stack) = stack().await else {
        return;
    };
    let runtime = stack.engine.runtime();

    // 1. main, from the base image: full copy, npm ci into the store, main image.
    let mut main = request(&stack, "main");
    main.build_main_image = true;
    let (record, events) = up(&stack, main).await;
    let record = record.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert_eq!(record.status, EnvironmentStatus::Ready);
    assert_eq!(record.image, stack.engine.node());
    let phases: Vec<_> = events
        .iter()
        .filter(|e| !e.started)
        .map(|e| e.phase)
        .collect();
    assert_eq!(
        phases,
        [
            Phase::Cloning,
            Phase::Installing,
            Phase::Starting,
            Phase::Ready
        ]
    );
    assert!(
        log_of(&events, Phase::Installing).contains("$ npm ci"),
        "{events:#?}"
    );
    assert!(events
        .iter()
        .filter(|e| !e.started && e.phase != Phase::Ready)
        .all(|e| e.duration_ms.is_some()));
    let port = record.host_port.unwrap();
    assert_eq!(get(port).await, "hello from greeting on main\n");

    // The dependency landed in the repo's store, under the lockfile's fingerprint.
    let volume = stack
        .provisioner
        .dependency_volume(&record.repo.clone().unwrap())
        .unwrap();
    let probe = stack.engine.sleeper("probe").with_mount(Mount::Volume {
        name: volume.name.to_string(),
        target: "/deps".into(),
        read_only: true,
    });
    let probe = run_container(runtime, &probe).await.unwrap();
    let seen = runtime
        .exec(
            &probe,
            &slipway_core::ExecRequest::shell("cat /deps/*/node_modules/greeting/index.js"),
        )
        .await
        .unwrap();
    assert!(
        seen.stdout_text().contains("hello from greeting"),
        "{seen:?}"
    );
    runtime
        .remove_container(&probe, RemoveOptions::force())
        .await
        .unwrap();

    // The main image records its commit and lockfile.
    let image = stack
        .provisioner
        .main_image(&record.repo.clone().unwrap())
        .unwrap();
    let info = runtime.inspect_image(&image).await.unwrap();
    assert_eq!(info.labels[COMMIT_LABEL].len(), 40);
    assert_eq!(info.labels[LOCKFILE_LABEL].len(), 64);

    // 2. feature, from the main image: only the delta, no install.
    let (feature, events) = up(&stack, request(&stack, "feature")).await;
    let feature = feature.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert_eq!(feature.image, image, "started from the prebuilt main image");
    let cloning = log_of(&events, Phase::Cloning);
    assert!(
        cloning.contains("started from the main image") && cloning.contains("1 changed, 1 deleted"),
        "{cloning}"
    );
    assert!(
        log_of(&events, Phase::Installing).contains("from the store"),
        "{events:#?}"
    );
    assert_eq!(
        get(feature.host_port.unwrap()).await,
        "hello from greeting on feature\n"
    );
    let gone = runtime
        .exec(
            feature.container_id.as_ref().unwrap(),
            &slipway_core::ExecRequest::shell("test -e /app/docs/old.md"),
        )
        .await
        .unwrap();
    assert_eq!(
        gone.exit_code,
        Some(1),
        "a file deleted on the branch is gone"
    );

    // 3. deps: the lockfile differs, so install runs again.
    let (deps, events) = up(&stack, request(&stack, "deps")).await;
    let deps = deps.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert!(
        log_of(&events, Phase::Installing).contains("$ npm ci"),
        "{events:#?}"
    );
    assert_eq!(get(deps.host_port.unwrap()).await, "hello again on deps\n");

    // 4. The token is nowhere in the committed image.
    let exported =
        ContainerSpec::new(image.clone()).with_labels(stack.engine.labels(slipway_core::Role::Env));
    let exported = runtime.create_container(&exported).await.unwrap();
    let filesystem = runtime.download_tar(&exported, "/").await.unwrap();
    runtime
        .remove_container(&exported, RemoveOptions::force())
        .await
        .unwrap();
    assert!(
        filesystem.len() > 50 << 20,
        "the whole filesystem was read ({} bytes)",
        filesystem.len()
    );
    assert!(
        !filesystem
            .windows(TOKEN.len())
            .any(|w| w == TOKEN.as_bytes()),
        "the token is in the image"
    );
    let config = runtime
        .bollard()
        .inspect_image(image.as_str())
        .await
        .unwrap();
    assert!(
        !format!("{config:?}").contains(TOKEN),
        "the token is in the image config"
    );

    for record in stack.environments.list().await.unwrap() {
        stack.environments.destroy(&record.id).await.unwrap();
    }
    assert!(stack.environments.list().await.unwrap().is_empty());
    let volumes = runtime.list_volumes(&stack.engine.filter()).await.unwrap();
    assert_eq!(
        volumes.len(),
        1,
        "the dependency store outlives its containers"
    );
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_branch_fails_the_environment_with_the_reason_and_keeps_the_cache() {
    let Some(stack) = stack().await else {
        return;
    };
    let (result, events) = up(&stack, request(&stack, "no-such-branch")).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("branch `no-such-branch`"), "{err}");
    let failure = events
        .iter()
        .find(|e| e.phase == Phase::Error)
        .expect("an error event");
    assert!(failure
        .message
        .as_deref()
        .unwrap()
        .contains("no-such-branch"));
    let records = stack.environments.list().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, EnvironmentStatus::Error);
    assert!(records[0]
        .error
        .as_deref()
        .unwrap()
        .contains("no-such-branch"));

    // The cache is unharmed: main still sets up.
    let (ok, events) = up(&stack, request(&stack, "main")).await;
    let ok = ok.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert_eq!(
        get(ok.host_port.unwrap()).await,
        "hello from greeting on main\n"
    );
    for record in stack.environments.list().await.unwrap() {
        stack.environments.destroy(&record.id).await.unwrap();
    }
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_server_that_crashes_is_reported_with_its_output() {
    let Some(stack) = stack().await else {
        return;
    };
    let mut crash = request(&stack, "main");
    crash.start_command = Some("echo boom-from-dev-server >&2; exit 1".into());
    let (result, _) = up(&stack, crash).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("exited before listening on port 3000"),
        "{err}"
    );
    assert!(err.contains("boom-from-dev-server"), "{err}");
    for record in stack.environments.list().await.unwrap() {
        stack.environments.destroy(&record.id).await.unwrap();
    }
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

/// `image`'s layer count and id.
async fn layers_of(stack: &Stack, image: &slipway_core::ImageRef) -> (usize, String) {
    let info = stack.engine.runtime().inspect_image(image).await.unwrap();
    (info.layers, info.id.to_string())
}

/// Whether `path` exists in a fresh container of `image`.
async fn exists_in(stack: &Stack, image: &slipway_core::ImageRef, path: &str) -> bool {
    let runtime = stack.engine.runtime();
    let spec = ContainerSpec::new(image.clone())
        .with_name(stack.engine.unique_name("look"))
        .with_labels(stack.engine.labels(slipway_core::Role::Env))
        .with_cmd(["sleep", "3600"]);
    let probe = run_container(runtime, &spec).await.unwrap();
    let seen = runtime
        .exec(
            &probe,
            &slipway_core::ExecRequest::new(["test", "-e", path]),
        )
        .await
        .unwrap();
    runtime
        .remove_container(&probe, RemoveOptions::force())
        .await
        .unwrap();
    seen.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_image_holds_only_the_tree_and_never_grows() {
    let Some(stack) = stack().await else {
        return;
    };
    let main_up = |stack: &Stack| {
        let mut request = request(stack, "main");
        request.build_main_image = true;
        request
    };
    let (first, events) = up(&stack, main_up(&stack)).await;
    let first = first.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    let image = stack
        .provisioner
        .main_image(&first.repo.clone().unwrap())
        .unwrap();
    let (layers, mut id) = layers_of(&stack, &image).await;
    let (base_layers, _) = layers_of(&stack, &stack.engine.node()).await;
    assert_eq!(layers, base_layers + 1, "the base image and the tree");
    // The install ran in an installer container, not in the environment (npm's cache is
    // in neither its home nor the image): the image holds only the tree and the base.
    let env = stack.environments.container(&first.id).await.unwrap();
    let npm_cache = stack
        .engine
        .runtime()
        .exec(
            &env,
            &slipway_core::ExecRequest::new(["test", "-d", "/root/.npm"]),
        )
        .await
        .unwrap();
    assert_eq!(
        npm_cache.exit_code,
        Some(1),
        "the install left npm's cache in the environment"
    );
    assert!(!exists_in(&stack, &image, "/root/.npm").await);
    assert!(exists_in(&stack, &image, "/app/package.json").await);
    stack.environments.destroy(&first.id).await.unwrap();

    // Five more setups of the default branch, each at a new commit: each rebuilds the
    // image from the base, so the layer count stays.
    for round in 0..5 {
        stack
            ._repo
            .commit(
                "main",
                Some("main"),
                &[RepoFile::new("docs/round.md", format!("round {round}\n"))],
                &[],
                "another commit on main",
            )
            .unwrap();
        let (env, events) = up(&stack, main_up(&stack)).await;
        let env = env.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
        let (now, now_id) = layers_of(&stack, &image).await;
        assert_eq!(now, layers, "round {round}: the main image grew");
        assert_ne!(
            now_id, id,
            "round {round}: the main image holds the new commit"
        );
        id = now_id;
        stack.environments.destroy(&env.id).await.unwrap();
    }
    // At the image's commit, nothing is rebuilt.
    let (env, events) = up(&stack, main_up(&stack)).await;
    let env = env.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert_eq!(layers_of(&stack, &image).await, (layers, id));
    stack.environments.destroy(&env.id).await.unwrap();
    // Each replaced image went when the environment running from it did: one is left.
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!(
            "{}={}",
            slipway_core::labels::REPO,
            first.repo.unwrap()
        )],
    )]);
    let images = stack
        .engine
        .runtime()
        .bollard()
        .list_images(Some(
            slipway_runtime::bollard::query_parameters::ListImagesOptions {
                filters: Some(filters),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlabelled_image_tagged_like_the_main_image_is_neither_used_nor_replaced() {
    let Some(stack) = stack().await else {
        return;
    };
    let runtime = stack.engine.runtime();
    let repo: slipway_core::RepoSlug = format!("fixture/app-{}", stack.engine.scope())
        .parse()
        .unwrap();
    let image = stack.provisioner.main_image(&repo).unwrap();
    // Someone's own image under the main image's name: the busybox test image, no labels of ours.
    runtime
        .tag_image(stack.engine.busybox().as_str(), &image)
        .await
        .unwrap();
    stack.engine.remove_later_image(image.as_str());
    let foreign = runtime.inspect_image(&image).await.unwrap().id;

    let mut main = request(&stack, "main");
    main.build_main_image = true;
    let (record, events) = up(&stack, main).await;
    let record = record.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert_eq!(
        record.image,
        stack.engine.node(),
        "started from the base image"
    );
    assert_eq!(
        get(record.host_port.unwrap()).await,
        "hello from greeting on main\n"
    );
    assert_eq!(
        runtime.inspect_image(&image).await.unwrap().id,
        foreign,
        "the tag still holds the foreign image"
    );
    stack.environments.destroy(&record.id).await.unwrap();
    runtime.remove_image(image.as_str(), false).await.unwrap();
}

/// Runs `script` in the environment's container; its stdout.
async fn sh_in(stack: &Stack, id: &str, script: &str) -> String {
    let outcome = stack
        .environments
        .exec(id, slipway_core::ExecRequest::shell(script))
        .await
        .unwrap();
    assert!(outcome.success(), "`{script}`: {outcome:?}");
    outcome.stdout_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_lives_in_memory_its_scripts_run_and_npm_run_dev_skips_npm() {
    let Some(stack) = stack().await else {
        return;
    };
    let (record, events) = up(&stack, request(&stack, "main")).await;
    let record = record.unwrap();
    assert!(get(record.host_port.unwrap()).await.contains("on main"));
    assert!(
        log_of(&events, Phase::Starting)
            .contains("running the npm script directly: node server.js"),
        "{events:?}"
    );
    // A tmpfs, without the engine's default noexec: the tree's own scripts run.
    let mount = sh_in(&stack, &record.id, "grep ' /app ' /proc/mounts").await;
    assert!(
        mount.starts_with("tmpfs /app tmpfs") && !mount.contains("noexec"),
        "{mount}"
    );
    let ran = "printf '#!/bin/sh\\necho ran\\n' > bin.sh && chmod +x bin.sh && ./bin.sh";
    assert_eq!(sh_in(&stack, &record.id, ran).await, "ran\n");
    // The dev server got what npm would have given it.
    let environ = "for p in /proc/[0-9]*; do if grep -q server.js $p/cmdline 2>/dev/null; then tr '\\0' '\\n' < $p/environ; fi; done";
    let environ = sh_in(&stack, &record.id, environ).await;
    assert!(environ.contains("npm_lifecycle_event=dev"), "{environ}");
    assert!(environ.contains("/app/node_modules/.bin:"), "{environ}");
    stack.environments.destroy(&record.id).await.unwrap();
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_on_a_volume_of_its_own_goes_with_the_environment() {
    let Some(stack) = stack_with(|config| config.app_storage = AppStorage::Volume).await else {
        return;
    };
    let (record, _) = up(&stack, request(&stack, "main")).await;
    let record = record.unwrap();
    assert!(get(record.host_port.unwrap()).await.contains("on main"));
    let mount = sh_in(&stack, &record.id, "grep ' /app ' /proc/mounts").await;
    assert!(!mount.starts_with("tmpfs"), "{mount}");
    let volumes = || async {
        let mut names: Vec<String> = stack
            .engine
            .runtime()
            .list_volumes(&stack.engine.filter())
            .await
            .unwrap()
            .into_iter()
            .map(|volume| volume.name)
            .collect();
        names.sort();
        names
    };
    let deps = stack
        .provisioner
        .dependency_volume(&request(&stack, "main").repo)
        .unwrap()
        .name
        .to_string();
    let before = volumes().await;
    assert_eq!(
        before.len(),
        2,
        "the dependency volume and the tree's: {before:?}"
    );
    stack.environments.destroy(&record.id).await.unwrap();
    assert_eq!(
        volumes().await,
        [deps.as_str()],
        "only the shared one stays"
    );
    stack.engine.runtime().remove_volume(&deps).await.unwrap();
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_with_other_lockfiles_run_side_by_side_and_can_t_touch_each_other_s_dependencies()
{
    let Some(stack) = stack().await else {
        return;
    };
    let (main, events) = up(&stack, request(&stack, "main")).await;
    let main = main.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    let installing = log_of(&events, Phase::Installing);
    assert!(
        installing.contains("into the store") && installing.contains("$ npm ci"),
        "{installing}"
    );
    let (deps, events) = up(&stack, request(&stack, "deps")).await;
    let deps = deps.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert!(log_of(&events, Phase::Installing).contains("$ npm ci"));
    // Each keeps its own dependencies after the other installed.
    assert_eq!(
        get(main.host_port.unwrap()).await,
        "hello from greeting on main\n"
    );
    assert_eq!(get(deps.host_port.unwrap()).await, "hello again on deps\n");

    // Another environment of main links the install: no second install.
    let (again, events) = up(&stack, request(&stack, "main")).await;
    let again = again.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    let installing = log_of(&events, Phase::Installing);
    assert!(
        installing.contains("from the store") && !installing.contains("$ npm ci"),
        "{installing}"
    );
    let store = sh_in(&stack, &again.id, "grep ' /opt/slipway/deps ' /proc/mounts").await;
    assert!(store.contains(" ro,") || store.contains(" ro "), "{store}");
    let link = sh_in(&stack, &again.id, "readlink /app/node_modules/greeting").await;
    assert!(
        link.starts_with("/opt/slipway/deps/")
            && link.trim_end().ends_with("/node_modules/greeting"),
        "{link}"
    );

    // A new entry stays in its environment; an installed package can't be written.
    assert_eq!(
        sh_in(
            &stack,
            &main.id,
            "echo planted > /app/node_modules/planted.js && cat /app/node_modules/planted.js"
        )
        .await,
        "planted\n"
    );
    assert_eq!(
        sh_in(
            &stack,
            &again.id,
            "test -e /app/node_modules/planted.js; echo $?"
        )
        .await,
        "1\n",
        "another environment doesn't see it"
    );
    let poison = sh_in(
        &stack,
        &main.id,
        "(echo 'module.exports = \"poisoned\"' > /app/node_modules/greeting/index.js) 2>&1; echo $?",
    )
    .await;
    assert!(poison.contains("Read-only file system"), "{poison}");
    assert_eq!(
        get(again.host_port.unwrap()).await,
        "hello from greeting on main\n"
    );

    // Pruning keeps what running environments link, and takes what none does.
    let prune = || async {
        stack
            .provisioner
            .prune_dependencies(Duration::ZERO, &stack.engine.node())
            .await
            .unwrap()
    };
    stack.environments.destroy(&deps.id).await.unwrap();
    let pruned = prune().await;
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    assert_eq!(
        get(main.host_port.unwrap()).await,
        "hello from greeting on main\n"
    );
    stack.environments.destroy(&main.id).await.unwrap();
    stack.environments.destroy(&again.id).await.unwrap();
    let pruned = prune().await;
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    let runtime = stack.engine.runtime();
    assert!(
        runtime
            .list_volumes(&stack.engine.filter())
            .await
            .unwrap()
            .is_empty(),
        "the emptied store went"
    );
    assert!(
        runtime
            .list_containers(&stack.engine.filter())
            .await
            .unwrap()
            .is_empty(),
        "no installer or prune helper is left"
    );
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_environment_serves_the_default_branch_at_once_and_follows_it() {
    let Some(stack) =
        stack_with_settings(|_| {}, |settings, repo| settings.ready_repos = vec![repo]).await
    else {
        return;
    };
    let repo = request(&stack, "main").repo;
    // No main image yet: nothing to keep ready.
    assert_eq!(stack.environments.fill_ready().await.unwrap(), 0);
    let mut first = request(&stack, "main");
    first.build_main_image = true;
    let (first, events) = up(&stack, first).await;
    let first = first.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    stack.environments.destroy(&first.id).await.unwrap();

    // Three hand-overs: each from request to the page answering.
    let mut took = Vec::new();
    for _ in 0..3 {
        assert_eq!(stack.environments.fill_ready().await.unwrap(), 1);
        assert!(
            stack.environments.list().await.unwrap().is_empty(),
            "ready environments are not listed"
        );
        let started = std::time::Instant::now();
        let (env, events) = up(&stack, SetupRequest::new(repo.clone())).await;
        let env = env.unwrap_or_else(|e| panic!("hand-over failed: {e}\n{events:#?}"));
        assert_eq!(
            get(env.host_port.unwrap()).await,
            "hello from greeting on main\n"
        );
        took.push(started.elapsed());
        assert!(
            log_of(&events, Phase::Ready).contains("a ready environment at"),
            "{events:#?}"
        );
        assert_eq!(env.name, repo.dashed());
        assert_eq!(stack.environments.list().await.unwrap().len(), 1);
        stack.environments.destroy(&env.id).await.unwrap();
    }
    took.sort();
    assert!(
        took[1] <= Duration::from_millis(100),
        "the median hand-over took {:?} (all: {took:?})",
        took[1]
    );

    // The API's way, create then setup: the create takes the ready environment (its page
    // answers already) and the setup finds nothing to do.
    assert_eq!(stack.environments.fill_ready().await.unwrap(), 1);
    let created = stack
        .environments
        .create(slipway_provision::NewEnvironment {
            name: Some("web".into()),
            repo: Some(repo.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.name, "web");
    assert_eq!(
        get(created.host_port.unwrap()).await,
        "hello from greeting on main\n"
    );
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let set_up = stack
        .environments
        .setup(&created.id, SetupRequest::new(repo.clone()), Some(sender))
        .await
        .unwrap();
    assert_eq!(set_up.status, EnvironmentStatus::Ready);
    let event = receiver.try_recv().unwrap().event;
    assert!(
        event.log.join("\n").contains("a ready environment at"),
        "{event:?}"
    );
    stack.environments.destroy(&created.id).await.unwrap();

    // The default branch moves: the ready environment takes the delta and restarts its
    // dev server.
    assert_eq!(stack.environments.fill_ready().await.unwrap(), 1);
    stack
        ._repo
        .commit(
            "main",
            Some("main"),
            &node_app("on main, later", "1.0.0", "hello from greeting")[2..3],
            &[],
            "a newer commit on main",
        )
        .unwrap();
    let (env, events) = up(&stack, SetupRequest::new(repo.clone())).await;
    let env = env.unwrap_or_else(|e| panic!("setup failed: {e}\n{events:#?}"));
    assert!(
        log_of(&events, Phase::Cloning).contains("started from the main image"),
        "{events:#?}"
    );
    assert_eq!(
        get(env.host_port.unwrap()).await,
        "hello from greeting on main, later\n"
    );
    stack.environments.destroy(&env.id).await.unwrap();
    // The next fill follows the branch: its ready environment runs the newer commit.
    assert_eq!(stack.environments.fill_ready().await.unwrap(), 1);
    let (env, events) = up(&stack, SetupRequest::new(repo.clone())).await;
    let env = env.unwrap_or_else(|e| panic!("hand-over failed: {e}\n{events:#?}"));
    assert!(log_of(&events, Phase::Ready).contains("a ready environment at"));
    assert_eq!(
        get(env.host_port.unwrap()).await,
        "hello from greeting on main, later\n"
    );
    for record in stack.environments.list().await.unwrap() {
        stack.environments.destroy(&record.id).await.unwrap();
    }
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slugs_that_read_alike_get_stores_and_main_images_of_their_own() {
    let Some(stack) = stack().await else {
        return;
    };
    let scope = stack.engine.scope();
    let one: slipway_core::RepoSlug = format!("a-b{scope}/c").parse().unwrap();
    let other: slipway_core::RepoSlug = format!("a/b{scope}-c").parse().unwrap();
    let runtime = stack.engine.runtime();
    let mut names = Vec::new();
    for repo in [&one, &other] {
        let volume = stack
            .provisioner
            .ensure_dependency_volume(repo)
            .await
            .unwrap();
        assert_eq!(
            volume.labels[slipway_core::labels::REPO],
            repo.as_str(),
            "{volume:?}"
        );
        names.push(volume.name);
    }
    assert_ne!(names[0], names[1]);
    let listed = runtime.list_volumes(&stack.engine.filter()).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_ne!(
        stack.provisioner.main_image(&one).unwrap(),
        stack.provisioner.main_image(&other).unwrap()
    );
    for name in names {
        runtime.remove_volume(&name).await.unwrap();
    }
    stack.pool.shutdown(Duration::from_secs(10)).await.unwrap();
}
