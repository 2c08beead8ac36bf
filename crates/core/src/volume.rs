//! Named volumes.

use crate::labels::{self, Labels};
use crate::names::ContainerName;
use crate::time::Timestamp;
use crate::{Error, Result};

/// A named volume to create if missing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VolumeSpec {
    /// The volume name (same rules as container names).
    pub name: ContainerName,
    /// Labels; an existing volume is reused only when it carries the same slipway labels
    /// ([`VolumeSpec::check_reuse`]).
    pub labels: Labels,
}

impl VolumeSpec {
    /// Whether `existing`, found under this spec's name, may be reused: it must be managed and
    /// carry every `dev.slipway.*` label of the spec with the same value (role, instance,
    /// repo, cache key…), so another state's, another repo's or a user's volume is never
    /// taken over. The schema version may differ.
    pub fn check_reuse(&self, existing: &VolumeInfo) -> Result<()> {
        if !labels::is_managed(&existing.labels) {
            return Err(Error::Conflict(format!(
                "volume `{}` exists but is not managed by slipway; remove or rename it",
                self.name
            )));
        }
        let differs = self.labels.iter().find(|(key, wanted)| {
            key.starts_with("dev.slipway.")
                && key.as_str() != labels::SCHEMA
                && existing.labels.get(key.as_str()) != Some(wanted)
        });
        match differs {
            Some((key, wanted)) => Err(Error::Conflict(format!(
                "volume `{}` exists but belongs to something else ({key} is {}, not `{wanted}`); \
                 remove it or choose another name",
                self.name,
                existing
                    .labels
                    .get(key.as_str())
                    .map_or("unset".to_owned(), |v| format!("`{v}`"))
            ))),
            None => Ok(()),
        }
    }
}

/// What the engine reports about a volume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VolumeInfo {
    /// The volume name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// When it was created, if the engine says.
    pub created: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Scope;
    use crate::{ErrorKind, InstanceId, Role};

    fn spec(labels: Labels) -> VolumeSpec {
        VolumeSpec {
            name: "slipway-deps-me-app".parse().unwrap(),
            labels,
        }
    }

    fn existing(labels: Labels) -> VolumeInfo {
        VolumeInfo {
            name: "slipway-deps-me-app".into(),
            labels,
            created: None,
        }
    }

    #[test]
    fn only_a_volume_with_the_same_slipway_labels_is_reused() {
        let ours = Scope::new(Role::Env, &InstanceId::new("a"))
            .with(labels::REPO, "me/app")
            .labels();
        let wanted = spec(ours.clone());
        assert!(wanted.check_reuse(&existing(ours.clone())).is_ok());

        let mut older_schema = ours.clone();
        older_schema.insert(labels::SCHEMA.into(), "0".into());
        older_schema.insert("team".into(), "other".into());
        assert!(wanted.check_reuse(&existing(older_schema)).is_ok());

        let other_instance = Scope::new(Role::Env, &InstanceId::new("b"))
            .with(labels::REPO, "me/app")
            .labels();
        let other_repo = Scope::new(Role::Env, &InstanceId::new("a"))
            .with(labels::REPO, "me/other")
            .labels();
        let other_role = Scope::new(Role::Buildkit, &InstanceId::new("a"))
            .with(labels::REPO, "me/app")
            .labels();
        let mut no_repo = ours.clone();
        no_repo.remove(labels::REPO);
        for labels in [
            other_instance,
            other_repo,
            other_role,
            no_repo,
            Labels::new(),
        ] {
            let error = wanted.check_reuse(&existing(labels.clone())).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Conflict, "{labels:?}");
        }
    }
}
