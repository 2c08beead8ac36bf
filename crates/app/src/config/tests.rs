use std::collections::HashMap;
use std::time::Duration;

use slipway_core::{ErrorKind, PortRange};
use slipway_pool::MemoryBudget;
use slipway_provision::AppStorage;
use slipway_runtime::Endpoint;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |key| map.get(key).cloned()
}

fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn with_file(path: &Path) -> Overrides {
    Overrides {
        config: Some(path.to_owned()),
        ..Overrides::default()
    }
}

#[test]
fn defaults_to_the_local_socket_dot_slipway_and_the_seed_s_pool() {
    let config = Config::load(&Overrides::default(), &env(&[])).unwrap();
    assert_eq!(config.engine.endpoint, Endpoint::local());
    assert_eq!(config.state_dir, PathBuf::from(".slipway"));
    assert_eq!(config.engine.connect_timeout, Duration::from_secs(2));
    assert_eq!(config.engine.request_timeout, Duration::from_secs(120));
    assert_eq!(
        config.pools.settings.budget,
        MemoryBudget::EngineTotalMinus(2 << 30)
    );
    assert_eq!(config.pools.settings.port_range.to_string(), "10000-20000");
    // One pool, written out: node:24-slim, idle, port 3000, 512 MiB, 3 ready, 1 min, 2 at a time.
    let [pool] = config.pools.pools.as_slice() else {
        panic!("{:?}", config.pools.pools)
    };
    assert_eq!(pool.spec.image.as_str(), "node:24-slim");
    assert_eq!(
        pool.spec.cmd.as_deref(),
        Some(&["tail".to_owned(), "-f".into(), "/dev/null".into()][..])
    );
    assert_eq!(
        pool.spec
            .ports
            .iter()
            .map(|p| p.container_port)
            .collect::<Vec<_>>(),
        [3000]
    );
    assert_eq!(pool.spec.resources.memory_bytes, Some(512 << 20));
    assert_eq!(
        (pool.target_size, pool.min_size, pool.max_creating),
        (3, 1, 2)
    );
    assert_eq!(
        config.provision.environments.base_image.as_str(),
        "node:24-slim"
    );
    assert_eq!(config.provision.config.start_command, "npm run dev");
    assert!(config.provision.config.direct_npm_scripts);
    assert_eq!(config.provision.config.app_storage, AppStorage::Memory);
    assert_eq!(config.runs.run_image.as_str(), "docker:28-dind");
    assert_eq!(config.runs.privilege, PrivilegeChoice::Privileged);
}

#[test]
fn flags_beat_environment_beats_file() {
    let (_dir, path) = file(
        "state_dir = \"/from-file\"\n[engine]\nhost = \"unix:///file.sock\"\nconnect_timeout_ms = 500\n",
    );
    let overrides = with_file(&path);
    let from_file = Config::load(&overrides, &env(&[])).unwrap();
    assert_eq!(from_file.engine.endpoint.to_string(), "unix:///file.sock");
    assert_eq!(from_file.state_dir, PathBuf::from("/from-file"));
    assert_eq!(from_file.engine.connect_timeout, Duration::from_millis(500));

    let vars = env(&[
        ("DOCKER_HOST", "unix:///env.sock"),
        ("SLIPWAY_STATE_DIR", "/from-env"),
    ]);
    let from_env = Config::load(&overrides, &vars).unwrap();
    assert_eq!(from_env.engine.endpoint.to_string(), "unix:///env.sock");
    assert_eq!(from_env.state_dir, PathBuf::from("/from-env"));

    let flags = Overrides {
        host: Some("unix:///flag.sock".into()),
        state_dir: Some("/from-flag".into()),
        ..overrides
    };
    let from_flags = Config::load(&flags, &vars).unwrap();
    assert_eq!(from_flags.engine.endpoint.to_string(), "unix:///flag.sock");
    assert_eq!(from_flags.state_dir, PathBuf::from("/from-flag"));
}

#[test]
fn plain_tcp_needs_an_explicit_opt_in_and_tls_resolves_like_the_docker_cli() {
    let vars = env(&[("DOCKER_HOST", "tcp://192.168.100.2:2375")]);
    let err = Config::load(&Overrides::default(), &vars).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("--allow-insecure-tcp"), "{err}");
    let allowed = Overrides {
        allow_insecure_tcp: true,
        ..Overrides::default()
    };
    assert!(Config::load(&allowed, &vars)
        .unwrap()
        .engine
        .endpoint
        .is_insecure());
    let tls = env(&[
        ("DOCKER_HOST", "tcp://build:2376"),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", "/c"),
    ]);
    let endpoint = Config::load(&Overrides::default(), &tls)
        .unwrap()
        .engine
        .endpoint;
    assert!(
        matches!(&endpoint, Endpoint::Tls { files, .. } if files.ca == std::path::Path::new("/c/ca.pem")),
        "{endpoint:?}"
    );
    // The file can turn TLS on and name the certificates too.
    let (_dir, path) =
        file("[engine]\nhost = \"tcp://build\"\ntls_verify = true\ncert_path = \"/certs\"\n");
    let endpoint = Config::load(&with_file(&path), &env(&[]))
        .unwrap()
        .engine
        .endpoint;
    assert_eq!(endpoint.to_string(), "tcp+tls://build:2376");
}

#[test]
fn pools_provisioning_and_runs_read_their_sections() {
    let (_dir, path) = file(
        "[pool]\nmemory_budget_mb = 4096\nport_range = \"11000-11999\"\n\n\
         [[pools]]\nimage = \"busybox:1\"\nports = [8080]\nmemory_mb = 64\ntarget = 5\n\n\
         [provision]\nbase_image = \"slipway-test/node:1\"\nstart_command = \"npm start\"\ndirect_npm_scripts = false\napp_storage = \"volume\"\nport = 8080\n\
         ready_repos = [\"octo/web\"]\nready_recent = 2\nready_per_repo = 3\n\n\
         [buildkit]\nprivilege = \"caps\"\nprobe = \"tcp\"\ncache_key = \"ci\"\n",
    );
    let config = Config::load(&with_file(&path), &env(&[("SLIPWAY_GIT_TOKEN", "tok")])).unwrap();
    assert_eq!(config.pools.settings.budget, MemoryBudget::Fixed(4 << 30));
    assert_eq!(
        config.pools.settings.port_range,
        PortRange::new(11000, 11999).unwrap()
    );
    let pool = &config.pools.pools[0];
    assert_eq!(pool.spec.image.as_str(), "busybox:1");
    assert_eq!(pool.spec.ports[0].container_port, 8080);
    assert_eq!(pool.spec.resources.memory_bytes, Some(64 << 20));
    assert_eq!((pool.target_size, pool.min_size), (5, 1));
    assert_eq!(
        config.provision.environments.base_image.as_str(),
        "slipway-test/node:1"
    );
    assert_eq!(
        (
            config.provision.config.start_command.as_str(),
            config.provision.config.port
        ),
        ("npm start", 8080)
    );
    assert!(!config.provision.config.direct_npm_scripts);
    assert_eq!(config.provision.config.app_storage, AppStorage::Volume);
    let environments = &config.provision.environments;
    assert_eq!(environments.ready_repos[0].as_str(), "octo/web");
    assert_eq!(
        (environments.ready_recent, environments.ready_per_repo),
        (2, 3)
    );
    let credentials = config.provision.environments.credentials.unwrap();
    assert_eq!(
        (credentials.username.as_str(), credentials.secret.expose()),
        ("x-access-token", "tok")
    );
    assert_eq!(config.runs.privilege, PrivilegeChoice::Caps);
    assert_eq!(config.runs.buildkit.probe.to_string(), "tcp");
    assert_eq!(
        config.runs.buildkit.state_volume().unwrap().as_str(),
        "slipway-buildkit-state-ci"
    );
}

#[test]
fn unknown_keys_bad_values_and_huge_sizes_are_clear_errors() {
    let cases = [
        ("[engine]\nhots = \"typo\"\n", "hots"),
        ("[pool]\nport_range = \"20-10\"\n", "pool.port_range"),
        ("[[pools]]\nimage = \"UPPER:1\"\n", "[[pools]]"),
        ("[[pools]]\nmin = 9\ntarget = 2\n", "min_size"),
        (
            "[provision]\nmemory_mb = 9223372036854775807\n",
            "provision.memory_mb",
        ),
        ("[buildkit]\nprivilege = \"root\"\n", "buildkit.privilege"),
        (
            "[provision]\napp_storage = \"disk\"\n",
            "provision.app_storage",
        ),
        (
            "[provision]\nready_repos = [\"not a slug\"]\n",
            "provision.ready_repos",
        ),
        (
            "[provision]\nready_per_repo = 0\n",
            "provision.ready_per_repo",
        ),
        ("[buildkit]\ncache_key = \"../x\"\n", "buildkit.cache_key"),
        (
            "[buildkit]\nlabels = { \"dev.slipway.instance\" = \"other\" }\n",
            "slipway's own labels",
        ),
        (
            "[provision]\nlabels = { \"dev.slipway.managed\" = \"false\" }\n",
            "provision.labels",
        ),
    ];
    for (text, says) in cases {
        let (_dir, path) = file(text);
        let err = Config::load(&with_file(&path), &env(&[])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{text}: {err}");
        assert!(err.to_string().contains(says), "{text}: {err}");
    }
    let bad = Overrides {
        host: Some("docker.sock".into()),
        ..Overrides::default()
    };
    let err = Config::load(&bad, &env(&[])).unwrap_err().to_string();
    assert!(err.contains("expected unix:///path"), "{err}");
}

#[test]
fn a_file_found_in_the_current_directory_can_not_say_where_the_engine_or_remotes_are() {
    let (dir, path) = file("[provision]\nport = 8080\n");
    check_local_file(&path, &file::read(&path).unwrap()).unwrap();
    for (text, key) in [
        ("[engine]\nhost = \"tcp://evil:2375\"\n", "engine.host"),
        (
            "[provision]\nurl_template = \"https://evil/{owner}/{repo}\"\n",
            "provision.url_template",
        ),
        ("state_dir = \"/tmp/x\"\n", "state_dir"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = check_local_file(&path, &file::read(&path).unwrap()).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
        assert!(err.to_string().contains("--config"), "{err}");
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(&path, "[provision]\nport = 8080\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = check_local_file(&path, &file::read(&path).unwrap()).unwrap_err();
    assert!(err.to_string().contains("writable by others"), "{err}");
    drop(dir);
}

#[test]
fn the_readme_examples_are_valid_configuration() {
    let readme = include_str!("../../../../README.md");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .collect();
    assert!(blocks.len() >= 2, "the README shows the config file");
    for text in blocks {
        let (_dir, path) = file(text);
        if let Err(e) = Config::load(&with_file(&path), &env(&[])) {
            panic!("{e}\n{text}");
        }
    }
}
