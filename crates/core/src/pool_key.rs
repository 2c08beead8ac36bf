//! [`PoolKey`]: which containers are interchangeable.

use std::collections::BTreeMap;
use std::fmt;

use crate::spec::{
    ContainerSpec, LogLimits, Mount, NetworkAttachment, PrivilegeProfile, Resources,
};

/// Bumped whenever the canonical form changes meaning, so keys of an older form never match
/// containers they were not made for.
const KEY_SCHEMA: u32 = 2;

/// Identifies interchangeable containers: a hash of everything in a [`ContainerSpec`] that is
/// fixed at creation (image, command, ports, limits, mounts, env, privilege) — not the name,
/// labels or host ports, which differ per container.
///
/// The hash covers a canonical JSON form with a schema version (fields in a fixed order,
/// ports and mounts sorted), never `Debug` output, so a dependency update can't turn every
/// warm container into a stray.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct PoolKey(String);

/// The parts of a spec that make containers interchangeable, in a fixed order.
#[derive(serde::Serialize)]
struct Canonical<'a> {
    schema: u32,
    image: &'a str,
    cmd: &'a Option<Vec<String>>,
    entrypoint: &'a Option<Vec<String>>,
    env: &'a BTreeMap<String, String>,
    ports: Vec<(u16, String)>,
    mounts: Vec<&'a Mount>,
    resources: &'a Resources,
    privilege: &'a PrivilegeProfile,
    network: &'a Option<NetworkAttachment>,
    working_dir: &'a Option<String>,
    user: &'a Option<String>,
    init: bool,
    tty: bool,
    logs: &'a Option<LogLimits>,
    no_new_privileges: bool,
}

impl PoolKey {
    /// The key of containers created from `spec`.
    pub fn for_spec(spec: &ContainerSpec) -> Self {
        let mut ports: Vec<(u16, String)> = spec
            .ports
            .iter()
            .map(|p| (p.container_port, p.host_ip.to_string()))
            .collect();
        ports.sort();
        let mut mounts: Vec<&Mount> = spec.mounts.iter().collect();
        mounts.sort_by(|a, b| a.target().cmp(b.target()));
        let canonical = Canonical {
            schema: KEY_SCHEMA,
            image: spec.image.as_str(),
            cmd: &spec.cmd,
            entrypoint: &spec.entrypoint,
            env: &spec.env,
            ports,
            mounts,
            resources: &spec.resources,
            privilege: &spec.privilege,
            network: &spec.network,
            working_dir: &spec.working_dir,
            user: &spec.user,
            init: spec.init,
            tty: spec.tty,
            logs: &spec.logs,
            no_new_privileges: spec.no_new_privileges,
        };
        let json = serde_json::to_vec(&canonical).expect("a spec always serializes");
        Self(format!("{:016x}", fnv1a(&json)))
    }

    /// Wraps a key read back from a label or the store.
    pub fn from_hash(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    /// The key as it appears in labels.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64-bit FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PortBinding;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("node:1".parse().unwrap())
            .with_port(PortBinding::loopback(3000, None))
            .with_memory_limit(512 << 20)
    }

    #[test]
    fn key_ignores_names_labels_and_host_ports() {
        let a = spec().with_name("a1".parse().unwrap());
        let mut b = spec().with_name("b1".parse().unwrap());
        b.labels.insert("x".into(), "y".into());
        b.ports[0].host_port = Some(10001);
        assert_eq!(PoolKey::for_spec(&a), PoolKey::for_spec(&b));
    }

    #[test]
    fn key_changes_with_image_memory_env_mounts_and_privilege() {
        let base = PoolKey::for_spec(&spec());
        assert_ne!(base, PoolKey::for_spec(&spec().with_memory_limit(1 << 30)));
        assert_ne!(base, PoolKey::for_spec(&spec().with_env("A", "1")));
        let other_image = ContainerSpec {
            image: "node:2".parse().unwrap(),
            ..spec()
        };
        assert_ne!(base, PoolKey::for_spec(&other_image));
        let with_volume = spec().with_mount(Mount::Volume {
            name: "v1".into(),
            target: "/app/node_modules".into(),
            read_only: false,
        });
        assert_ne!(base, PoolKey::for_spec(&with_volume));
        let privileged = spec().with_privilege(PrivilegeProfile::Privileged);
        assert_ne!(base, PoolKey::for_spec(&privileged));
    }

    #[test]
    fn key_ignores_the_order_ports_and_mounts_were_given_in() {
        let volume = |target: &str| Mount::Volume {
            name: "v".into(),
            target: target.into(),
            read_only: false,
        };
        let a = spec()
            .with_port(PortBinding::loopback(8080, None))
            .with_mount(volume("/a"))
            .with_mount(volume("/b"));
        let mut b = spec().with_mount(volume("/b")).with_mount(volume("/a"));
        b.ports.insert(0, PortBinding::loopback(8080, None));
        assert_eq!(PoolKey::for_spec(&a), PoolKey::for_spec(&b));
    }

    /// The key of a fixed spec, computed once: if this changes, every warm container on
    /// every host would be orphaned by an upgrade. Change it only together with `KEY_SCHEMA`.
    #[test]
    fn key_of_a_fixed_spec_never_changes() {
        let spec = ContainerSpec::new("node:24-slim".parse().unwrap())
            .with_cmd(["tail", "-f", "/dev/null"])
            .with_init(true)
            .with_port(PortBinding::loopback(3000, None))
            .with_env("NODE_ENV", "development")
            .with_memory_limit(512 << 20);
        assert_eq!(PoolKey::for_spec(&spec).as_str(), EXPECTED_KEY);
    }

    const EXPECTED_KEY: &str = "c0d2a6875854a450";
}
