//! The provisioner's decisions, without Docker: an in-memory engine whose shell answers the
//! setup scripts, and an in-memory repo cache.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use slipway_core::prelude::*;
use slipway_core::{
    labels, run_container, CommitId, ContainerId, ContainerSpec, ExecOutcome, ExecRequest,
    InstanceId,
};
use slipway_testkit::{FakeRepoCache, FakeRuntime};

use super::*;

/// The main image of `me/app` under the default template (`{hash}` of the exact slug).
const MAIN_IMAGE: &str = "slipway/me-app-1da9aadc0673:main";

const REPO: &str = "me/app";
const LOCK: &str = "{\"lockfileVersion\":3}";

/// What the fake container's shell did and holds.
#[derive(Default)]
pub(crate) struct Shell {
    /// Files the scripts wrote (the dependency directory's marker).
    pub(crate) files: BTreeMap<String, String>,
    /// Commands that are not slipway's own scripts (the install command).
    pub(crate) commands: Vec<String>,
    /// Paths the delta removed.
    pub(crate) removed: Vec<String>,
    /// Directories `tar -x` unpacked a tree into, with the archive's size.
    pub(crate) untarred: Vec<(String, usize)>,
    /// An image without `tar`: `tar -x` is not found (the archive API is the fallback).
    pub(crate) no_tar: bool,
    /// The app directory is full: `tar -x` fails for want of space.
    pub(crate) full: bool,
    /// The dependency store's installs by fingerprint, when containers mount one.
    pub(crate) store: Option<std::collections::BTreeSet<String>>,
    /// Fingerprints the dependency directory was linked to, in order.
    pub(crate) linked: Vec<String>,
}

/// An engine with `image` whose exec answers the setup scripts like a container would.
pub(crate) fn engine(image: &str) -> (FakeRuntime, Arc<Mutex<Shell>>) {
    let shell = Arc::new(Mutex::new(Shell::default()));
    let seen = Arc::clone(&shell);
    let fake = FakeRuntime::new()
        .with_image(image)
        .with_exec_handler(move |_, request: &ExecRequest| answer(&seen, request));
    (fake, shell)
}

/// What a container answers to the routine steps when the test cares only about later
/// ones: the streamed tree's `tar -x` succeeded, and no dependency store is mounted.
pub(crate) fn routine(request: &ExecRequest) -> Option<ExecOutcome> {
    let script = request.cmd.get(2).map(String::as_str);
    let exit_code = if script == Some(scripts::UNPACK) {
        0
    } else if script == Some(scripts::LINK_DEPS) {
        scripts::LINK_NO_STORE
    } else {
        return None;
    };
    Some(ExecOutcome {
        exit_code: Some(exit_code),
        stdout: format!("{}0\n", scripts::UNPACK_STATUS).into_bytes(),
        ..ExecOutcome::default()
    })
}

impl Shell {
    /// The scripts' link function: its exit status (args: fingerprint, dependency
    /// directory, marker name).
    fn link(&mut self, hash: &str, dir: &str, marker: &str) -> i64 {
        let code = match &self.store {
            None => scripts::LINK_NO_STORE,
            Some(store) if store.contains(hash) => 0,
            Some(_) => scripts::LINK_NOT_INSTALLED,
        };
        if code == 0 {
            self.files
                .insert(format!("{dir}/{marker}"), hash.to_owned());
            self.linked.push(hash.to_owned());
        }
        code
    }
}

fn answer(shell: &Mutex<Shell>, request: &ExecRequest) -> ExecOutcome {
    let mut shell = shell.lock().unwrap();
    let cmd = &request.cmd;
    let ok = |stdout: &str| ExecOutcome {
        exit_code: Some(0),
        stdout: stdout.as_bytes().to_vec(),
        ..ExecOutcome::default()
    };
    if cmd[0] == "tar" {
        if shell.no_tar {
            return ExecOutcome {
                exit_code: Some(127),
                ..ExecOutcome::default()
            };
        }
        let size = request.stdin.as_ref().map_or(0, Vec::len);
        shell.untarred.push((cmd[5].clone(), size));
        return ok("");
    }
    let (script, args) = (cmd[2].as_str(), &cmd[3.min(cmd.len())..]);
    let arg = |n: usize| args.get(n + 1).cloned().unwrap_or_default();
    if script == scripts::UNPACK {
        // What the pipe carried is in the fake's recorded input.
        if shell.no_tar {
            return ok(&format!(
                "sh: tar: not found\n{}127\n",
                scripts::UNPACK_STATUS
            ));
        }
        if shell.full {
            let full = "tar: src/a.js: Cannot write: No space left on device\n";
            return ok(&format!("{full}{}2\n", scripts::UNPACK_STATUS));
        }
        shell.untarred.push((arg(0), 0));
        return ok(&format!("{}0\n", scripts::UNPACK_STATUS));
    }
    if script == scripts::LINK_DEPS {
        let code = shell.link(&arg(1), &arg(2), &arg(3));
        return ExecOutcome {
            exit_code: Some(code),
            ..ExecOutcome::default()
        };
    }
    if script == scripts::PUBLISH_DEPS {
        if let Some(store) = &mut shell.store {
            store.insert(arg(2));
        }
        return ok("");
    }
    if script == scripts::PREPARE {
        // app dir, marker path, store, fingerprint, dependency directory, marker name
        let (marker, hash) = (arg(1), arg(3));
        let held = shell.files.get(&marker).cloned().unwrap_or_default();
        let status = if hash.is_empty() || held == hash {
            "skipped".to_owned()
        } else {
            shell.link(&hash, &arg(4), &arg(5)).to_string()
        };
        let held = shell.files.get(&marker).cloned().unwrap_or_default();
        ok(&format!("{}{status}\n{held}", scripts::LINK_STATUS))
    } else if script == scripts::WRITE_MARKER {
        shell.files.insert(arg(0), arg(1));
        ok("")
    } else if script == scripts::REMOVE_FILES {
        shell.removed.extend(args.iter().skip(2).cloned());
        ok("")
    } else if [
        scripts::START_AND_WAIT,
        scripts::CLEAN_APP,
        scripts::CLEAR_DEPS,
        scripts::MEMORY_USE,
    ]
    .contains(&script)
    {
        ok("")
    } else {
        shell.commands.push(script.to_owned());
        ok("installed\n")
    }
}

fn provisioner(fake: &FakeRuntime, cache: &FakeRepoCache) -> Provisioner {
    Provisioner::new(
        Arc::new(fake.clone()),
        Arc::new(cache.clone()),
        InstanceId::new("inst"),
        ProvisionConfig::default(),
    )
    .unwrap()
}

/// A running container of `image`, labelled like a main-image container when `main_commit`.
async fn container(fake: &FakeRuntime, image: &str, main_commit: Option<&CommitId>) -> ContainerId {
    let mut spec = ContainerSpec::new(image.parse().unwrap());
    if let Some(commit) = main_commit {
        spec.labels.insert(labels::REPO.into(), REPO.into());
        spec.labels.insert(COMMIT_LABEL.into(), commit.to_string());
    }
    run_container(fake, &spec).await.unwrap()
}

fn request(branch: &str) -> SetupRequest {
    SetupRequest::new(REPO.parse().unwrap()).with_branch(branch.parse().unwrap())
}

#[tokio::test]
async fn install_runs_once_then_is_skipped_while_the_lockfile_matches() {
    let (fake, shell) = engine("node:1");
    let cache = FakeRepoCache::new();
    cache.commit(
        REPO,
        "main",
        &[("package-lock.json", LOCK), ("server.js", "1")],
    );
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, "node:1", None).await;

    let first = provisioner
        .setup(&id, &request("main"), None)
        .await
        .unwrap();
    assert!(first.installed);
    assert_eq!(shell.lock().unwrap().commands, ["npm ci"]);
    let untarred = shell.lock().unwrap().untarred.clone();
    assert!(
        matches!(&untarred[..], [(dir, _)] if dir == "/app"),
        "the tree went to `tar -x` in /app: {untarred:?}"
    );
    let piped = fake.tty_input();
    let mut archive = tar::Archive::new(&piped[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|name| name == "package-lock.json"),
        "the tree was streamed on the pipe: {names:?}"
    );
    assert_eq!(fake.call_count("upload_tar"), 0);
    let marker = shell
        .lock()
        .unwrap()
        .files
        .get("/app/node_modules/.slipway-lockfile")
        .cloned();
    assert_eq!(marker, Some(lockfile_hash(LOCK.as_bytes())));

    let second = provisioner
        .setup(&id, &request("main"), None)
        .await
        .unwrap();
    assert!(!second.installed, "the volume already holds this lockfile");
    assert_eq!(
        shell.lock().unwrap().commands,
        ["npm ci"],
        "no second install"
    );

    cache.commit(REPO, "main", &[("package-lock.json", "{\"changed\":1}")]);
    let third = provisioner
        .setup(&id, &request("main"), None)
        .await
        .unwrap();
    assert!(third.installed, "a new lockfile installs again");
    assert_eq!(shell.lock().unwrap().commands, ["npm ci", "npm ci"]);
}

#[tokio::test]
async fn a_main_image_container_gets_only_the_delta() {
    let (fake, shell) = engine(MAIN_IMAGE);
    let cache = FakeRepoCache::new();
    let base = cache.commit(
        REPO,
        "main",
        &[("a.txt", "a"), ("old.txt", "o"), ("same.txt", "s")],
    );
    cache.commit(
        REPO,
        "feature",
        &[("a.txt", "changed"), ("same.txt", "s"), ("new.txt", "n")],
    );
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, MAIN_IMAGE, Some(&base)).await;

    let outcome = provisioner
        .setup(&id, &request("feature"), None)
        .await
        .unwrap();
    assert!(outcome.from_main_image);
    let calls = cache.calls();
    assert!(calls.contains(&"diff me/app".to_owned()), "{calls:?}");
    assert!(
        calls.contains(&"archive_paths me/app".to_owned()),
        "{calls:?}"
    );
    assert!(
        !calls.contains(&"archive me/app".to_owned()),
        "no whole tree: {calls:?}"
    );
    assert_eq!(shell.lock().unwrap().removed, ["old.txt"]);

    // A container without the repo's labels gets the whole tree.
    let plain = container(&fake, MAIN_IMAGE, None).await;
    let whole = provisioner
        .setup(&plain, &request("feature"), None)
        .await
        .unwrap();
    assert!(!whole.from_main_image);
    assert!(cache.calls().contains(&"archive me/app".to_owned()));
}

#[tokio::test]
async fn the_main_image_is_committed_only_from_the_default_branch() {
    let (fake, _shell) = engine("node:1");
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("server.js", "1")]);
    cache.commit(REPO, "feature", &[("server.js", "2")]);
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, "node:1", None).await;

    let mut feature = request("feature");
    feature.build_main_image = true;
    let outcome = provisioner.setup(&id, &feature, None).await.unwrap();
    assert_eq!(outcome.main_image, None);
    assert_eq!(fake.call_count("commit"), 0);

    let mut main = request("main");
    main.build_main_image = true;
    let outcome = provisioner.setup(&id, &main, None).await.unwrap();
    assert_eq!(
        outcome
            .main_image
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some(MAIN_IMAGE)
    );
    assert_eq!(fake.call_count("commit"), 1);
    let image = fake
        .inspect_image(&MAIN_IMAGE.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(image.labels[COMMIT_LABEL], outcome.commit.to_string());
    assert_eq!(image.labels[labels::REPO], REPO);
}

#[tokio::test]
async fn a_main_image_tag_holding_someone_else_s_image_is_neither_used_nor_overwritten() {
    let theirs = [
        Labels::new(),
        Scope::new(Role::Build, &InstanceId::new("another-state"))
            .with(labels::REPO, REPO)
            .labels(),
        Scope::new(Role::Build, &InstanceId::new("inst"))
            .with(labels::REPO, "me/other")
            .labels(),
    ];
    for labels in theirs {
        let (fake, _shell) = engine("node:1");
        let fake = fake.with_labelled_image(MAIN_IMAGE, labels.clone());
        let cache = FakeRepoCache::new();
        cache.commit(REPO, "main", &[("server.js", "1")]);
        let provisioner = provisioner(&fake, &cache);
        let repo: RepoSlug = REPO.parse().unwrap();
        let base: ImageRef = "node:1".parse().unwrap();
        assert_eq!(provisioner.image_for(&repo, &base).await.unwrap(), base);

        let id = container(&fake, "node:1", None).await;
        let mut main = request("main");
        main.build_main_image = true;
        let outcome = provisioner.setup(&id, &main, None).await.unwrap();
        assert_eq!(outcome.main_image, None, "{labels:?}");
        assert_eq!(fake.call_count("commit"), 0);
        let still = fake
            .inspect_image(&MAIN_IMAGE.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(still.labels, labels);
    }
}

#[tokio::test]
async fn this_state_s_main_image_is_started_from() {
    let ours = Scope::new(Role::Build, &InstanceId::new("inst"))
        .with(labels::REPO, REPO)
        .labels();
    let (fake, _shell) = engine("node:1");
    let fake = fake.with_labelled_image(MAIN_IMAGE, ours);
    let provisioner = provisioner(&fake, &FakeRepoCache::new());
    let chosen = provisioner
        .image_for(&REPO.parse().unwrap(), &"node:1".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(chosen.to_string(), MAIN_IMAGE);
}

#[tokio::test]
async fn secrets_a_failing_install_prints_are_taken_out_of_its_error_and_events() {
    const TOKEN: &str = "npm-tok-8f3a9c";
    // An install that echoes its secret, as a verbose package manager would.
    let fake = FakeRuntime::new()
        .with_image("node:1")
        .with_exec_handler(|_, request| {
            if let Some(done) = routine(request) {
                return done;
            }
            let failing = request.cmd.get(2).is_some_and(|script| script == "npm ci");
            let token = request.env.get("NPM_TOKEN").cloned().unwrap_or_default();
            ExecOutcome {
                exit_code: Some(if failing { 1 } else { 0 }),
                stdout: format!("using token {token}\n").into_bytes(),
                stderr: if failing {
                    format!("npm ERR! 401 for {token}\n").into_bytes()
                } else {
                    Vec::new()
                },
                ..ExecOutcome::default()
            }
        });
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("package-lock.json", LOCK)]);
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, "node:1", None).await;
    let mut setup = request("main");
    setup
        .env
        .insert("NPM_TOKEN".into(), EnvValue::secret(TOKEN));
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let error = provisioner
        .setup(&id, &setup, Some(&sender))
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("npm ERR! 401 for <redacted>"), "{shown}");
    // The process itself got the value (it echoed it); what is shown has it redacted.
    assert!(shown.contains("using token <redacted>"), "{shown}");
    let mut last = None;
    while let Ok(event) = events.try_recv() {
        let text = format!("{:?} {:?}", event.log, event.message);
        assert!(!text.contains(TOKEN), "{text}");
        last = Some(event);
    }
    let message = last.and_then(|e| e.message).unwrap_or_default();
    assert!(message.contains("npm ERR! 401 for <redacted>"), "{message}");
}

#[tokio::test]
async fn a_failed_install_is_a_setup_error_with_its_output_and_an_error_event() {
    let fake = FakeRuntime::new()
        .with_image("node:1")
        .with_exec_handler(|_, request| {
            if let Some(done) = routine(request) {
                return done;
            }
            let failing = request.cmd.get(2).is_some_and(|script| script == "npm ci");
            ExecOutcome {
                exit_code: Some(if failing { 1 } else { 0 }),
                stderr: if failing {
                    b"npm ERR! broken\n".to_vec()
                } else {
                    Vec::new()
                },
                ..ExecOutcome::default()
            }
        });
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("package-lock.json", LOCK)]);
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, "node:1", None).await;
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let error = provisioner
        .setup(&id, &request("main"), Some(&sender))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SetupError::Install { command, .. } if command == "npm ci"),
        "{error}"
    );
    assert!(error.to_string().contains("npm ERR! broken"), "{error}");
    let mut last = None;
    while let Ok(event) = events.try_recv() {
        last = Some(event);
    }
    let last = last.unwrap();
    assert_eq!(last.phase, Phase::Error);
    assert!(last.message.unwrap().contains("npm ERR! broken"));
}

#[tokio::test]
async fn a_dev_server_that_never_listens_fails_after_the_ready_timeout() {
    let waited = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&waited);
    let fake = FakeRuntime::new()
        .with_image("node:1")
        .with_exec_handler(move |_, request| {
            if let Some(done) = routine(request) {
                return done;
            }
            let script = request.cmd.get(2).cloned().unwrap_or_default();
            let never_listens = script == scripts::START_AND_WAIT;
            if never_listens {
                // app dir, command, PATH prefix, port, attempts (10 ms apart)
                seen.lock().unwrap().push((
                    request.cmd[7].clone(),
                    request.cmd[8].clone(),
                    request.timeout,
                ));
            }
            // The container had used 63 of its 64 MiB when the wait ran out.
            let stdout = if script == scripts::MEMORY_USE {
                b"66060288 67108864\n".to_vec()
            } else {
                Vec::new()
            };
            ExecOutcome {
                exit_code: Some(if never_listens { 4 } else { 0 }),
                stdout,
                ..ExecOutcome::default()
            }
        });
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("server.js", "1")]);
    let config = ProvisionConfig {
        ready_timeout: std::time::Duration::from_secs(7),
        ..ProvisionConfig::default()
    };
    let provisioner = Provisioner::new(
        Arc::new(fake.clone()),
        Arc::new(cache),
        InstanceId::new("inst"),
        config,
    )
    .unwrap();
    let id = container(&fake, "node:1", None).await;
    let error = provisioner
        .setup(&id, &request("main"), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), slipway_core::ErrorKind::Timeout, "{error}");
    assert!(
        matches!(&error, SetupError::DevServerTimedOut { after, port: 3000, memory_near_limit: Some(limit), .. } if after.as_secs() == 7 && *limit == 64 << 20),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("had used up its 64 MiB of memory"),
        "{error}"
    );
    let waited = waited.lock().unwrap().clone();
    let [(port, attempts, timeout)] = waited.as_slice() else {
        panic!("{waited:?}")
    };
    assert_eq!(
        (port.as_str(), attempts.as_str()),
        ("3000", "700"),
        "7 s of 10 ms probes"
    );
    assert!(
        timeout.unwrap() > std::time::Duration::from_secs(7),
        "the exec outlives the wait"
    );
}

#[test]
fn environment_containers_are_bounded() {
    let (fake, _shell) = engine("node:1");
    let provisioner = provisioner(&fake, &FakeRepoCache::new());
    let spec = provisioner
        .container_spec(
            Some(&REPO.parse().unwrap()),
            "node:1".parse().unwrap(),
            512 << 20,
        )
        .unwrap();
    assert_eq!(spec.resources.memory_bytes, Some(512 << 20));
    assert_eq!(
        spec.resources.pids_limit,
        Some(slipway_core::DEFAULT_PIDS_LIMIT)
    );
    assert_eq!(spec.logs, Some(slipway_core::LogLimits::default()));
    assert!(spec.no_new_privileges);
    let network = spec.network.expect("environments are isolated by default");
    assert_eq!(network.network, "slipway-envs-inst");
    assert!(provisioner.environment_network().isolated);
}

#[tokio::test]
async fn an_image_without_tar_gets_the_tree_through_the_archive_api() {
    let (fake, shell) = engine("node:1");
    shell.lock().unwrap().no_tar = true;
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("server.js", "1")]);
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, "node:1", None).await;
    provisioner
        .setup(&id, &request("main"), None)
        .await
        .unwrap();
    assert!(shell.lock().unwrap().untarred.is_empty());
    assert!(fake
        .calls()
        .iter()
        .any(|call| call.op == "upload_tar" && call.target == format!("{id}:/app")));
}

#[tokio::test]
async fn a_tree_too_big_for_the_memory_app_directory_says_what_to_do() {
    let (fake, shell) = engine("node:1");
    shell.lock().unwrap().full = true;
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("server.js", "1")]);
    let provisioner = provisioner(&fake, &cache);
    let id = container(&fake, "node:1", None).await;
    let error = provisioner
        .setup(&id, &request("main"), None)
        .await
        .unwrap_err();
    // The message with its causes, as the CLI and the API show it.
    let error = slipway_core::Error::from(error).to_string();
    assert!(error.contains("exited with 2"), "{error}");
    assert!(error.contains("No space left on device"), "{error}");
    assert!(
        error.contains("provision.app_storage = \"volume\""),
        "{error}"
    );
}

#[tokio::test]
async fn a_new_lockfile_is_installed_into_the_store_by_an_installer_then_linked_everywhere() {
    let (fake, shell) = engine("node:1");
    shell.lock().unwrap().store = Some(Default::default());
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("package-lock.json", LOCK)]);
    let provisioner = provisioner(&fake, &cache);
    let repo: RepoSlug = REPO.parse().unwrap();
    let spec = provisioner
        .container_spec(Some(&repo), "node:1".parse().unwrap(), 512 << 20)
        .unwrap();
    let store = spec.labels[DEPENDENCY_STORE_LABEL].clone();
    assert!(
        spec.mounts.iter().any(|mount| matches!(mount,
            Mount::Volume { name, target, read_only: true } if *name == store && target == "/opt/slipway/deps")),
        "environments mount the store read-only: {:?}",
        spec.mounts
    );
    let first = run_container(&fake, &spec).await.unwrap();
    let outcome = provisioner
        .setup(&first, &request("main"), None)
        .await
        .unwrap();
    assert!(outcome.installed);
    let hash = lockfile_hash(LOCK.as_bytes());
    assert_eq!(shell.lock().unwrap().commands, ["npm ci"]);
    assert_eq!(shell.lock().unwrap().linked, std::slice::from_ref(&hash));
    // The installer was a second container, with the store writable, and is gone.
    let created: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|call| call.op == "create_container")
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    let left = fake
        .list_containers(&slipway_core::LabelFilter::default())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "only the environment is left: {left:?}");

    // A fresh container: its dependency directory is empty (the fake's files are shared).
    shell.lock().unwrap().files.clear();
    let second = run_container(&fake, &spec).await.unwrap();
    let outcome = provisioner
        .setup(&second, &request("main"), None)
        .await
        .unwrap();
    assert!(!outcome.installed, "the store holds this lockfile");
    assert_eq!(
        shell.lock().unwrap().commands,
        ["npm ci"],
        "no second install"
    );
    assert_eq!(shell.lock().unwrap().linked, [hash.clone(), hash]);
}
