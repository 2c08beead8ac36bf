//! A container's callback secret as a key to its own terminal and log stream (`?token=`):
//! the product backend that set the container up holds it already, so it can hand a browser
//! a link without the API secret. Only a SHA-256 digest is kept, in a 0600 file per
//! container (it outlives restarts), bound to the container's creation time so that a later
//! container given the same id never inherits it.

use std::path::PathBuf;

use slipway_core::{EnvironmentRecord, Error, Result, Secret, Timestamp};
use subtle::ConstantTimeEq;

use crate::auth::digest;

/// The keys, one file per container.
#[derive(Debug, Clone)]
pub(crate) struct ContainerKeys {
    dir: PathBuf,
}

impl ContainerKeys {
    /// Keys kept in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Makes `secret` the key of `record`'s container (replacing an earlier one).
    pub(crate) fn set(&self, record: &EnvironmentRecord, secret: &Secret) -> Result<()> {
        let line = format!(
            "{} {}\n",
            record.created_at.unix_millis(),
            hex::encode(digest(secret.expose()))
        );
        crate::private_file::write(&self.path(&record.id), line.as_bytes())
            .map_err(|e| Error::invalid("container keys", e.to_string()))
    }

    /// Whether `token` is the key of `record`'s container.
    pub(crate) fn accepts(&self, record: &EnvironmentRecord, token: &str) -> bool {
        let Some((created_at, known)) = self.read(&record.id) else {
            return false;
        };
        created_at == record.created_at && bool::from(known.ct_eq(&digest(token)))
    }

    /// Forgets the key of container `id` (it is gone).
    pub(crate) fn forget(&self, id: &str) {
        let _ = std::fs::remove_file(self.path(id));
    }

    /// The containers that have a key.
    pub(crate) fn ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".key").map(str::to_owned)
            })
            .collect()
    }

    /// Forgets every key whose container is gone or is another one now; `current` gives a
    /// container's record.
    pub(crate) async fn purge<F, Fut>(&self, current: F)
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Option<EnvironmentRecord>>,
    {
        for id in self.ids() {
            let live = current(id.clone()).await;
            let kept = self.read(&id).map(|(created_at, _)| created_at);
            if live.map(|r| r.created_at) != kept || kept.is_none() {
                self.forget(&id);
            }
        }
    }

    fn read(&self, id: &str) -> Option<(Timestamp, [u8; 32])> {
        let text = std::fs::read_to_string(self.path(id)).ok()?;
        let (created_at, hex_digest) = text.trim().split_once(' ')?;
        let created_at = Timestamp::from_unix_millis(created_at.parse().ok()?);
        let known: [u8; 32] = hex::decode(hex_digest).ok()?.try_into().ok()?;
        Some((created_at, known))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::{EnvironmentStatus, ImageRef};

    fn record(id: &str, created_ms: i64) -> EnvironmentRecord {
        let created_at = Timestamp::from_unix_millis(created_ms);
        EnvironmentRecord {
            id: id.to_owned(),
            name: "n".to_owned(),
            container_id: None,
            image: "busybox:1".parse::<ImageRef>().unwrap(),
            pool_key: None,
            repo: None,
            branch: None,
            host_port: None,
            memory_bytes: 0,
            status: EnvironmentStatus::Ready,
            error: None,
            created_at,
            updated_at: created_at,
            ports: Vec::new(),
            labels: Default::default(),
            phases: Vec::new(),
            idempotency_key: None,
            from_pool: false,
            auto_stop_minutes: None,
        }
    }

    #[test]
    fn a_key_opens_its_own_container_only_and_never_a_later_one_of_the_same_id() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ContainerKeys::new(dir.path().join("keys"));
        let first = record("0a1b2c3d", 1_000);
        keys.set(&first, &Secret::new("callback-secret-1")).unwrap();
        assert!(keys.accepts(&first, "callback-secret-1"));
        assert!(!keys.accepts(&first, "callback-secret-2"));
        assert!(!keys.accepts(&record("0a1b2c3e", 1_000), "callback-secret-1"));
        assert!(!keys.accepts(&record("0a1b2c3d", 2_000), "callback-secret-1"));

        let file = dir.path().join("keys/0a1b2c3d.key");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("callback-secret-1"), "only a digest is kept");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        keys.forget("0a1b2c3d");
        assert!(!keys.accepts(&first, "callback-secret-1"));
    }

    #[tokio::test]
    async fn purge_forgets_keys_of_containers_that_are_gone_or_new() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ContainerKeys::new(dir.path().to_owned());
        for (id, created) in [("00000001", 1), ("00000002", 2), ("00000003", 3)] {
            keys.set(&record(id, created), &Secret::new("s")).unwrap();
        }
        keys.purge(|id| async move {
            match id.as_str() {
                "00000001" => Some(record("00000001", 1)),
                "00000002" => Some(record("00000002", 20)),
                _ => None,
            }
        })
        .await;
        assert_eq!(keys.ids(), ["00000001"]);
    }
}
