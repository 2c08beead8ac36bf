//! The checks themselves. Containers they start carry slipway's labels plus a doctor label,
//! and are removed before returning, whatever happened; nothing else is created (not even
//! the state directory).

use std::time::{Duration, Instant};

use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{
    run_container, CapabilityProfile, ContainerSpec, EngineInfo, ErrorKind, ExecRequest, ImageRef,
    InstanceId, PortRange, PrivilegeProfile, RemoveOptions, Role,
};
use slipway_pool::MemoryBudget;
use slipway_runtime::DockerRuntime;

use super::Check;
use crate::config::Config;

/// The oldest engine API slipway is tested with (Docker 20.10).
const MIN_API: (u32, u32) = (1, 41);
const GIB: f64 = (1u64 << 30) as f64;

pub(super) async fn run_all(config: &Config, image: &ImageRef, ports: PortRange) -> Vec<Check> {
    let budget = config.pools.settings.budget;
    let mut checks = Vec::new();
    match config.engine.connect().await {
        Err(e) => {
            checks.push(Check::fail(
                "engine",
                e.to_string(),
                "start the engine (`sudo systemctl start docker`, or `dockerd &`), or point slipway at \
                 one with --host / DOCKER_HOST",
            ));
            for name in [
                "versions",
                "storage driver",
                "memory",
                "container start",
                "privileged",
                "capability profile",
            ] {
                checks.push(Check::skipped(name));
            }
        }
        Ok(runtime) => {
            checks.push(Check::ok(
                "engine",
                format!("reachable at {}", runtime.endpoint()),
            ));
            checks.push(versions(&runtime).await);
            match runtime.info().await {
                Ok(info) => {
                    checks.push(storage_driver(&info));
                    checks.push(memory(&info, budget));
                }
                Err(e) => checks.push(Check::fail(
                    "engine info",
                    e.to_string(),
                    "check the engine's own logs",
                )),
            }
            checks.extend(containers(&runtime, image).await);
        }
    }
    checks.push(port_range(ports).await);
    checks.push(state(&config.state_dir).await);
    checks
}

/// The state directory: usable, and if it holds a database, that the database opens and its
/// audit chain is intact. Nothing is created here.
async fn state(dir: &std::path::Path) -> Check {
    let db = dir.join(slipway_store::DATABASE_FILE);
    if !db.exists() {
        let parent = if dir.exists() {
            dir
        } else {
            dir.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
        };
        let writable = std::fs::metadata(parent)
            .map(|m| !m.permissions().readonly())
            .unwrap_or(false);
        return if writable {
            Check::ok(
                "state",
                format!("{} will be created on first use", db.display()),
            )
        } else {
            Check::fail(
                "state",
                format!("{} is not writable", parent.display()),
                "pick a writable directory with --state-dir",
            )
        };
    }
    let store = match slipway_store::SqliteStore::open(&db) {
        Ok(store) => store,
        Err(e) => {
            return Check::fail(
                "state",
                e.to_string(),
                "move the file aside to start with fresh state",
            )
        }
    };
    match slipway_core::AuditLog::verify_audit(&store).await {
        Ok(v) if v.is_intact() => Check::ok(
            "state",
            format!(
                "{} (instance {}), audit log intact with {} entries",
                db.display(),
                slipway_core::Store::instance_id(&store),
                v.entries
            ),
        ),
        Ok(v) => Check::warn(
            "state",
            format!("audit log broken: {:?}", v.problem),
            "the audit log was edited outside slipway; keep a copy of the file for investigation",
        ),
        Err(e) => Check::fail(
            "state",
            e.to_string(),
            "move the file aside to start with fresh state",
        ),
    }
}

fn parse_api(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

async fn versions(runtime: &DockerRuntime) -> Check {
    match runtime.version().await {
        Err(e) => Check::fail("versions", e.to_string(), "check the engine's own logs"),
        Ok(v) => {
            let detail = format!(
                "engine {} ({}/{}), API {} (negotiated {})",
                v.version, v.os, v.arch, v.api_version, v.negotiated_api_version
            );
            match parse_api(&v.api_version) {
                Some(api) if api >= MIN_API => Check::ok("versions", detail),
                _ => Check::fail(
                    "versions",
                    detail,
                    format!(
                        "upgrade the engine: slipway needs API {}.{} (Docker 20.10) or newer",
                        MIN_API.0, MIN_API.1
                    ),
                ),
            }
        }
    }
}

fn storage_driver(info: &EngineInfo) -> Check {
    let detail = format!(
        "{} (cgroup v{}, {} driver)",
        info.storage_driver, info.cgroup_version, info.cgroup_driver
    );
    if info.storage_driver == "overlay2" {
        Check::ok("storage driver", detail)
    } else {
        Check::warn(
            "storage driver",
            detail,
            "overlay2 is what slipway is tuned for; other drivers work but commits and builds are slower",
        )
    }
}

/// What the configured budget leaves for environments on this engine: the capacity table.
fn memory(info: &EngineInfo, budget: MemoryBudget) -> Check {
    let total = info.total_memory_bytes as f64;
    let usable = budget.resolve(info.total_memory_bytes) as f64;
    let fits = |per: f64| (usable / per).floor() as u64;
    let detail = format!(
        "{:.1} GiB, {} CPUs; the budget ({}) holds about {} x 512 MiB, {} x 1 GiB or {} x 2 GiB environments",
        total / GIB,
        info.cpus,
        budget_text(budget),
        fits(0.5 * GIB),
        fits(GIB),
        fits(2.0 * GIB)
    );
    if usable >= 0.5 * GIB {
        Check::ok("memory", detail)
    } else {
        Check::fail(
            "memory",
            detail,
            "give the engine more memory, or lower pool.memory_headroom_mb / raise pool.memory_budget_mb",
        )
    }
}

fn budget_text(budget: MemoryBudget) -> String {
    match budget {
        MemoryBudget::EngineTotalMinus(headroom) => {
            format!("engine memory minus {:.1} GiB", headroom as f64 / GIB)
        }
        MemoryBudget::Fixed(bytes) => format!("{:.1} GiB", bytes as f64 / GIB),
    }
}

fn doctor_spec(image: &ImageRef, privilege: PrivilegeProfile) -> ContainerSpec {
    let mut labels = Scope::new(Role::Env, &InstanceId::new("doctor")).labels();
    labels.insert("dev.slipway.doctor".into(), "true".into());
    ContainerSpec::new(image.clone())
        .with_cmd(["sleep", "60"])
        .with_labels(labels)
        .with_privilege(privilege)
}

/// Starts a container with `privilege`, runs `sh -c true` in it, removes it.
async fn try_container(
    runtime: &DockerRuntime,
    image: &ImageRef,
    privilege: PrivilegeProfile,
) -> Result<Duration, slipway_core::Error> {
    let started = Instant::now();
    let id = run_container(runtime, &doctor_spec(image, privilege)).await?;
    let elapsed = started.elapsed();
    let exec = runtime
        .exec(
            &id,
            &ExecRequest::new(["sh", "-c", "true"]).with_timeout(Duration::from_secs(10)),
        )
        .await;
    let removed = runtime.remove_container(&id, RemoveOptions::force()).await;
    let exec = exec?;
    removed?;
    if exec.success() {
        Ok(elapsed)
    } else {
        Err(slipway_core::Error::backend(format!(
            "`sh -c true` exited with {:?} in the test container",
            exec.exit_code
        )))
    }
}

async fn containers(runtime: &DockerRuntime, image: &ImageRef) -> Vec<Check> {
    let start = match try_container(runtime, image, PrivilegeProfile::Default).await {
        Ok(took) => Check::ok(
            "container start",
            format!(
                "{image} started and ran a command in {} ms",
                took.as_millis()
            ),
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return vec![
                Check::fail(
                    "container start",
                    e.to_string(),
                    format!("make {image} available (`docker pull {image}`, or build it), or pass --image IMAGE"),
                ),
                Check::skipped("privileged"),
                Check::skipped("capability profile"),
            ];
        }
        Err(e) => Check::fail(
            "container start",
            format!("{e:#}"),
            "the image needs `sleep` and `sh`; see the engine's logs if it has them",
        ),
    };
    let privileged = match try_container(runtime, image, PrivilegeProfile::Privileged).await {
        Ok(_) => Check::ok("privileged", "privileged containers start (docker:dind runs can use them)"),
        Err(e) => Check::warn(
            "privileged",
            format!("refused: {}", root_cause(&e)),
            "docker:dind runs need privileged containers, or the capability profile (--privilege caps)",
        ),
    };
    let caps = PrivilegeProfile::Capabilities(CapabilityProfile::near_privileged());
    let capability = match try_container(runtime, image, caps).await {
        Ok(_) => Check::ok(
            "capability profile",
            "the near-privileged capability profile starts",
        ),
        Err(e) => Check::warn(
            "capability profile",
            format!("refused: {}", root_cause(&e)),
            "docker:dind runs will not work on this engine",
        ),
    };
    vec![start, privileged, capability]
}

fn root_cause(error: &slipway_core::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn port_range(range: PortRange) -> Check {
    let busy = tokio::task::spawn_blocking(move || {
        (range.first..=range.last)
            .filter(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_err())
            .collect::<Vec<u16>>()
    })
    .await
    .unwrap_or_default();
    let free = range.len() - busy.len();
    let shown: Vec<String> = busy.iter().take(5).map(ToString::to_string).collect();
    let more = if busy.len() > 5 { ", …" } else { "" };
    match (busy.is_empty(), free) {
        (true, _) => Check::ok(
            "host ports",
            format!("all {} ports of {range} are free", range.len()),
        ),
        (false, 0) => Check::fail(
            "host ports",
            format!("every port of {range} is in use"),
            "pick another range with --ports",
        ),
        (false, _) => Check::warn(
            "host ports",
            format!(
                "{free} of {} ports of {range} free; in use: {}{more}",
                range.len(),
                shown.join(", ")
            ),
            "slipway skips busy ports; stop what holds them to get them back",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() {
        assert!(parse_api("1.41").unwrap() >= MIN_API);
        assert!(parse_api("1.9").unwrap() < MIN_API);
        assert!(parse_api("1.100").unwrap() > MIN_API);
        assert_eq!(parse_api("x"), None);
    }

    #[test]
    fn memory_reports_the_capacity_table_of_the_configured_budget() {
        let info = EngineInfo {
            total_memory_bytes: 16 << 30,
            cpus: 8,
            ..EngineInfo::default()
        };
        let check = memory(&info, MemoryBudget::default());
        assert!(
            check
                .detail
                .contains("28 x 512 MiB, 14 x 1 GiB or 7 x 2 GiB"),
            "{}",
            check.detail
        );
        let fixed = memory(&info, MemoryBudget::Fixed(4 << 30));
        assert!(
            fixed.detail.contains("(4.0 GiB) holds about 8 x 512 MiB"),
            "{}",
            fixed.detail
        );
        let tight = memory(&info, MemoryBudget::Fixed(256 << 20));
        assert_eq!(tight.status, super::super::Status::Fail);
    }
}
