//! Helpers for slipway's end-to-end scenarios: whole flows through the application layer
//! (`slipway-app`), against a real engine, a real SQLite file, real git repositories and
//! real HTTP. The scenarios live in `tests/`.

use std::path::{Path, PathBuf};

use slipway_app::{Access, Config, Holder, LockWait, Overrides, Ownership, Services};
use slipway_testkit::engine::{NODE_IMAGE, TEST_LABEL};
use slipway_testkit::{free_port_range, TestEngine};

/// A test engine, a state directory and a config file for it (the node test image as the
/// base image, host ports of the test's own, the test's label on everything environments
/// make), as a user of the `slipway` binary would set them up.
pub struct Stack {
    /// The engine, scoped to this test.
    pub engine: TestEngine,
    /// The configuration, loaded like the binaries load it.
    pub config: Config,
    dir: tempfile::TempDir,
}

impl Stack {
    /// Connects to the test engine (or `None` to skip; see `slipway_testkit::engine`) and
    /// writes the config file, with `extra` appended to it.
    pub async fn start(extra: &str) -> Option<Stack> {
        let engine = TestEngine::connect_with(&[slipway_testkit::Need::NodeImage]).await?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("slipway.toml");
        std::fs::write(
            &file,
            format!(
                "[pool]\nport_range = \"{}\"\nmemory_budget_mb = 4096\n\n\
                 [provision]\nbase_image = \"{NODE_IMAGE}\"\nready_timeout_secs = 60\n\
                 labels = {{ \"{TEST_LABEL}\" = \"{}\" }}\n{extra}",
                free_port_range(50),
                engine.scope()
            ),
        )
        .expect("the config file is written");
        let overrides = Overrides {
            config: Some(file),
            state_dir: Some(dir.path().join("state")),
            ..Overrides::default()
        };
        let config =
            Config::load(&overrides, &|key| std::env::var(key).ok()).expect("the config is valid");
        Some(Stack {
            engine,
            config,
            dir,
        })
    }

    /// Where the stack keeps files of its own (repositories to serve).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir.clone()
    }

    /// The services, owning the state as a one-shot command does.
    pub async fn owner(&self) -> Services {
        let access = Access::Own(Ownership {
            holder: Holder::current("slipway-e2e", false),
            wait: LockWait::Never,
            refill: false,
        });
        Services::open(&self.config, access)
            .await
            .expect("the services open")
    }
}

/// The README's code runs as a doctest, so the embedding example can't drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
