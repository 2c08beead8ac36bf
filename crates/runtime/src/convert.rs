//! Conversions between core's types and bollard's models, kept at the adapter's edge.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary as EngineSummary,
    EndpointSettings, HostConfig, HostConfigLogConfig, Mount as EngineMount, MountTmpfsOptions,
    MountType, MountVolumeOptions, NetworkingConfig, PortBinding as EnginePortBinding,
};
use slipway_core::{
    ContainerId, ContainerInfo, ContainerSpec, ContainerState, ContainerSummary, ImageId, Labels,
    LogLimits, Mount, NetworkEndpoint, PrivilegeProfile, PublishedPort, Timestamp,
};

/// The engine's body for creating a container from `spec`.
pub(crate) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let port_key = |port: u16| format!("{port}/tcp");
    let exposed_ports: Vec<String> = spec
        .ports
        .iter()
        .map(|p| port_key(p.container_port))
        .collect();
    let mut port_bindings: HashMap<String, Option<Vec<EnginePortBinding>>> = HashMap::new();
    for binding in &spec.ports {
        port_bindings
            .entry(port_key(binding.container_port))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(EnginePortBinding {
                host_ip: Some(binding.host_ip.to_string()),
                host_port: Some(binding.host_port.map(|p| p.to_string()).unwrap_or_default()),
            });
    }
    let mut host_config = HostConfig {
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        mounts: engine_mounts(spec),
        tmpfs: executable_tmpfs(spec),
        memory: spec.resources.memory_bytes.map(saturating_i64),
        // Swap equal to memory means "no swap": the limit is what the container gets.
        memory_swap: spec.resources.memory_bytes.map(saturating_i64),
        nano_cpus: spec.resources.nano_cpus.map(saturating_i64),
        pids_limit: spec.resources.pids_limit.map(saturating_i64),
        log_config: spec.logs.as_ref().map(log_config),
        init: spec.init.then_some(true),
        network_mode: spec.network.as_ref().map(|n| n.network.clone()),
        ..HostConfig::default()
    };
    apply_privilege(&mut host_config, &spec.privilege);
    if spec.no_new_privileges {
        host_config
            .security_opt
            .get_or_insert_with(Vec::new)
            .push(NO_NEW_PRIVILEGES.to_owned());
    }
    let networking_config = spec.network.as_ref().map(|n| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            n.network.clone(),
            EndpointSettings {
                aliases: (!n.aliases.is_empty()).then(|| n.aliases.clone()),
                ..EndpointSettings::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: spec.cmd.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        exposed_ports: (!exposed_ports.is_empty()).then_some(exposed_ports),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        tty: spec.tty.then_some(true),
        // An empty host config is not free: the engine validates it (~1 ms per create).
        host_config: (host_config != HostConfig::default()).then_some(host_config),
        networking_config,
        ..ContainerCreateBody::default()
    }
}

/// The security option that stops processes from gaining privileges.
pub(crate) const NO_NEW_PRIVILEGES: &str = "no-new-privileges:true";

/// Rotated `json-file` logs of at most `limits`.
pub(crate) fn log_config(limits: &LogLimits) -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".to_owned()),
        config: Some(HashMap::from([
            ("max-size".to_owned(), limits.max_file_bytes.to_string()),
            ("max-file".to_owned(), limits.max_files.to_string()),
        ])),
    }
}

/// The host settings slipway gives a privilege profile (for a caller that builds a raw
/// container the same way, as a benchmark's baseline does).
pub fn apply_privilege(host_config: &mut HostConfig, profile: &PrivilegeProfile) {
    match profile {
        PrivilegeProfile::Default => {}
        PrivilegeProfile::Privileged => host_config.privileged = Some(true),
        PrivilegeProfile::Capabilities(caps) => {
            let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
            host_config.cap_add = non_empty(&caps.cap_add);
            host_config.cap_drop = non_empty(&caps.cap_drop);
            host_config.security_opt = non_empty(&caps.security_opt);
            host_config.device_cgroup_rules = non_empty(&caps.device_cgroup_rules);
            if caps.unmask_paths {
                host_config.masked_paths = Some(Vec::new());
                host_config.readonly_paths = Some(Vec::new());
            }
        }
    }
}

/// The mounts the engine takes in `Mounts`: all but executable tmpfs.
fn engine_mounts(spec: &ContainerSpec) -> Option<Vec<EngineMount>> {
    let mounts: Vec<EngineMount> = spec
        .mounts
        .iter()
        .filter(|mount| {
            !matches!(
                mount,
                Mount::Tmpfs {
                    executable: true,
                    ..
                }
            )
        })
        .map(|mount| engine_mount(mount, &spec.labels))
        .collect();
    (!mounts.is_empty()).then_some(mounts)
}

/// Executable tmpfs go in `Tmpfs` (path → mount options): API 1.41's `Mounts` can't lift
/// the `noexec` the engine puts on them, an `exec` option there can.
fn executable_tmpfs(spec: &ContainerSpec) -> Option<HashMap<String, String>> {
    let tmpfs: HashMap<String, String> = spec
        .mounts
        .iter()
        .filter_map(|mount| match mount {
            Mount::Tmpfs {
                target,
                size_bytes,
                executable: true,
            } => {
                let mut options = "rw,exec".to_owned();
                if let Some(size) = size_bytes {
                    options.push_str(&format!(",size={size}"));
                }
                Some((target.clone(), options))
            }
            _ => None,
        })
        .collect();
    (!tmpfs.is_empty()).then_some(tmpfs)
}

fn engine_mount(mount: &Mount, labels: &Labels) -> EngineMount {
    match mount {
        // An anonymous volume: `remove_container` with `volumes` takes it away.
        Mount::Scratch { target } => EngineMount {
            typ: Some(MountType::VOLUME),
            target: Some(target.clone()),
            volume_options: Some(MountVolumeOptions {
                labels: Some(labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                ..MountVolumeOptions::default()
            }),
            ..EngineMount::default()
        },
        Mount::Volume {
            name,
            target,
            read_only,
        } => EngineMount {
            typ: Some(MountType::VOLUME),
            source: Some(name.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..EngineMount::default()
        },
        Mount::Bind {
            source,
            target,
            read_only,
        } => EngineMount {
            typ: Some(MountType::BIND),
            source: Some(source.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..EngineMount::default()
        },
        Mount::Tmpfs {
            target, size_bytes, ..
        } => EngineMount {
            typ: Some(MountType::TMPFS),
            target: Some(target.clone()),
            tmpfs_options: size_bytes.map(|size| MountTmpfsOptions {
                size_bytes: Some(saturating_i64(size)),
                ..MountTmpfsOptions::default()
            }),
            ..EngineMount::default()
        },
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn labels(map: Option<HashMap<String, String>>) -> Labels {
    map.unwrap_or_default().into_iter().collect()
}

/// Parses an RFC 3339 timestamp from the engine; the zero time means "never".
pub(crate) fn timestamp(text: &str) -> Option<Timestamp> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    (parsed.timestamp() > 0).then(|| Timestamp::from_unix_millis(parsed.timestamp_millis()))
}

pub(crate) fn container_info(response: ContainerInspectResponse) -> ContainerInfo {
    let state = response.state.unwrap_or_default();
    let config = response.config.unwrap_or_default();
    let network_settings = response.network_settings.unwrap_or_default();
    let ports = network_settings
        .ports
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(key, bindings)| {
            let container_port = key.split('/').next().and_then(|p| p.parse().ok());
            bindings
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |b| {
                    Some(PublishedPort {
                        container_port: container_port?,
                        host_ip: b
                            .host_ip
                            .as_deref()
                            .and_then(|ip| ip.parse().ok())
                            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                        host_port: b.host_port?.parse().ok()?,
                    })
                })
        })
        .collect();
    let networks: BTreeMap<String, NetworkEndpoint> = network_settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, endpoint)| {
            let endpoint = NetworkEndpoint {
                ip_address: endpoint
                    .ip_address
                    .as_deref()
                    .and_then(|ip| ip.parse().ok()),
                aliases: endpoint.aliases.unwrap_or_default(),
            };
            (name, endpoint)
        })
        .collect();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    ContainerInfo {
        id: ContainerId::new(response.id.unwrap_or_default()),
        name: response
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        image_id: ImageId::new(response.image.unwrap_or_default()),
        labels: labels(config.labels),
        state: ContainerState::from_engine(&status),
        exit_code: (!matches!(status.as_str(), "running" | "created"))
            .then_some(state.exit_code)
            .flatten(),
        oom_killed: state.oom_killed.unwrap_or(false),
        started_at: state.started_at.as_deref().and_then(timestamp),
        ports,
        networks,
        memory_limit_bytes: response
            .host_config
            .and_then(|h| h.memory)
            .filter(|m| *m > 0)
            .and_then(|m| u64::try_from(m).ok()),
    }
}

pub(crate) fn container_summary(summary: EngineSummary) -> ContainerSummary {
    ContainerSummary {
        id: ContainerId::new(summary.id.unwrap_or_default()),
        names: summary
            .names
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_owned())
            .collect(),
        image: summary.image.unwrap_or_default(),
        labels: labels(summary.labels),
        state: ContainerState::from_engine(
            &summary.state.map(|s| s.to_string()).unwrap_or_default(),
        ),
        created: Timestamp::from_unix_millis(
            summary.created.unwrap_or_default().saturating_mul(1000),
        ),
    }
}

/// The engine's filter map for a label filter (plus any extra filters).
pub(crate) fn label_filters(filter: &slipway_core::LabelFilter) -> HashMap<String, Vec<String>> {
    let labels = filter.to_engine_filters();
    if labels.is_empty() {
        HashMap::new()
    } else {
        HashMap::from([("label".to_owned(), labels)])
    }
}

#[cfg(test)]
mod tests {
    use slipway_core::{CapabilityProfile, PortBinding};

    use super::*;

    #[test]
    fn create_body_publishes_ports_on_loopback_and_limits_memory_without_swap() {
        let spec = ContainerSpec::new("busybox:1".parse().unwrap())
            .with_port(PortBinding::loopback(3000, Some(10000)))
            .with_memory_limit(64 << 20)
            .with_env("A", "1");
        let body = create_body(&spec);
        assert_eq!(body.exposed_ports, Some(vec!["3000/tcp".to_owned()]));
        let host = body.host_config.unwrap();
        let binding = &host.port_bindings.unwrap()["3000/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("10000"));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(body.env, Some(vec!["A=1".to_owned()]));
    }

    #[test]
    fn scratch_volumes_are_labelled_and_executable_tmpfs_lift_noexec() {
        let spec = ContainerSpec::new("busybox:1".parse().unwrap())
            .with_labels(Labels::from([("team".to_owned(), "web".to_owned())]))
            .with_mount(Mount::Scratch {
                target: "/app".into(),
            })
            .with_mount(Mount::Tmpfs {
                target: "/run/app".into(),
                size_bytes: Some(1 << 20),
                executable: true,
            })
            .with_mount(Mount::Tmpfs {
                target: "/tmp".into(),
                size_bytes: None,
                executable: false,
            });
        let host = create_body(&spec).host_config.unwrap();
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(
            (mounts[0].typ, mounts[0].source.as_deref()),
            (Some(MountType::VOLUME), None)
        );
        let labels = mounts[0].volume_options.clone().unwrap().labels.unwrap();
        assert_eq!(labels["team"], "web");
        assert_eq!(mounts[1].typ, Some(MountType::TMPFS));
        assert_eq!(host.tmpfs.unwrap()["/run/app"], "rw,exec,size=1048576");
    }

    #[test]
    fn every_container_is_bounded_by_default() {
        let host = create_body(&ContainerSpec::new("busybox:1".parse().unwrap()))
            .host_config
            .unwrap();
        assert_eq!(host.pids_limit, Some(1024));
        let logs = host.log_config.unwrap();
        assert_eq!(logs.typ.as_deref(), Some("json-file"));
        let options = logs.config.unwrap();
        assert_eq!(
            (options["max-size"].as_str(), options["max-file"].as_str()),
            ("10485760", "3")
        );
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".to_owned()])
        );

        let caps = create_body(
            &ContainerSpec::new("busybox:1".parse().unwrap()).with_privilege(
                PrivilegeProfile::Capabilities(CapabilityProfile::near_privileged()),
            ),
        )
        .host_config
        .unwrap();
        assert!(!caps
            .security_opt
            .unwrap_or_default()
            .contains(&"no-new-privileges:true".to_owned()));
    }

    #[test]
    fn a_spec_without_host_settings_sends_no_host_config() {
        let mut spec = ContainerSpec::new("busybox:1".parse().unwrap())
            .with_cmd(["true"])
            .with_pids_limit(None)
            .with_log_limits(None);
        spec.no_new_privileges = false;
        assert!(create_body(&spec).host_config.is_none());
    }

    #[test]
    fn privilege_profiles_map_onto_host_config() {
        let privileged = create_body(
            &ContainerSpec::new("busybox:1".parse().unwrap())
                .with_privilege(PrivilegeProfile::Privileged),
        );
        assert_eq!(privileged.host_config.unwrap().privileged, Some(true));

        let caps = create_body(
            &ContainerSpec::new("busybox:1".parse().unwrap()).with_privilege(
                PrivilegeProfile::Capabilities(CapabilityProfile::near_privileged()),
            ),
        );
        let host = caps.host_config.unwrap();
        assert_eq!(host.privileged, None);
        assert_eq!(host.cap_drop, Some(vec!["SYS_RESOURCE".to_owned()]));
        assert_eq!(host.masked_paths, Some(vec![]));
        assert_eq!(host.readonly_paths, Some(vec![]));
    }

    #[test]
    fn network_aliases_go_into_the_endpoint_config() {
        let spec = ContainerSpec::new("busybox:1".parse().unwrap())
            .with_network("slipway-run-1", vec!["buildkit".into()]);
        let body = create_body(&spec);
        assert_eq!(
            body.host_config.unwrap().network_mode.as_deref(),
            Some("slipway-run-1")
        );
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints["slipway-run-1"].aliases,
            Some(vec!["buildkit".to_owned()])
        );
    }

    #[test]
    fn engine_timestamps_parse_and_the_zero_time_is_none() {
        assert_eq!(
            timestamp("2024-02-16T22:57:36.789123456Z"),
            Some(Timestamp::from_unix_millis(1_708_124_256_789))
        );
        assert_eq!(timestamp("0001-01-01T00:00:00Z"), None);
    }
}
