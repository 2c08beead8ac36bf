//! Label names slipway puts on everything it creates, and filters to find them again.
//!
//! Labels can't change after an object is created, so they only say *what* an object is and
//! *who* owns it; assignment state lives in the [`Store`](crate::Store).

use std::collections::BTreeMap;

use crate::ids::InstanceId;

/// `dev.slipway.managed=true` marks every object slipway created. Nothing without it is touched.
pub const MANAGED: &str = "dev.slipway.managed";
/// The [`Role`] of the object.
pub const ROLE: &str = "dev.slipway.role";
/// The id of the slipway state directory (instance) that owns the object.
pub const INSTANCE: &str = "dev.slipway.instance";
/// The label schema version, [`SCHEMA_VERSION`].
pub const SCHEMA: &str = "dev.slipway.schema";
/// The hash of the pool key a pooled container was created for.
pub const POOL_KEY: &str = "dev.slipway.pool-key";
/// The run a run-scoped object belongs to.
pub const RUN_ID: &str = "dev.slipway.run-id";
/// The process that created a pooled container (`<pid>.<start>@<boot id>`), so the next
/// owner of the state can tell whether it is gone.
pub const CREATOR: &str = "dev.slipway.creator";
/// The `owner/repo` an environment, image or volume belongs to.
pub const REPO: &str = "dev.slipway.repo";
/// The current label schema version.
pub const SCHEMA_VERSION: &str = "1";

/// Whether `key` is one of the labels slipway sets itself and relies on to know what is its
/// own; configured extra labels may not set them.
pub fn is_reserved(key: &str) -> bool {
    [
        MANAGED, ROLE, INSTANCE, SCHEMA, POOL_KEY, RUN_ID, REPO, CREATOR,
    ]
    .contains(&key)
}

/// What a slipway-managed object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A warm pool member (ready or claimed).
    Pool,
    /// A development environment.
    Env,
    /// A run's main container or network.
    Run,
    /// A BuildKit sidecar or its state volume.
    Buildkit,
    /// A build artefact (image, build container).
    Build,
}

impl Role {
    /// The label value of this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pool => "pool",
            Role::Env => "env",
            Role::Run => "run",
            Role::Buildkit => "buildkit",
            Role::Build => "build",
        }
    }
}

/// An ordered set of labels (ordered so that hashes and comparisons are stable).
pub type Labels = BTreeMap<String, String>;

/// Who owns an object and what it is for: the labels slipway puts on what it creates, and
/// the filter that finds exactly those objects again. Every site that labels or lists engine
/// objects goes through one of these, so "ours" means the same everywhere.
///
/// ```
/// use slipway_core::{labels::{self, Scope}, InstanceId, Role, RunId};
///
/// let scope = Scope::new(Role::Run, &InstanceId::new("a1b2")).with(labels::RUN_ID, "3f2a");
/// let labels = scope.labels();
/// assert!(scope.owns(&labels));
/// assert!(!Scope::new(Role::Run, &InstanceId::new("other")).owns(&labels));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    role: Role,
    instance: InstanceId,
    extra: Labels,
}

impl Scope {
    /// Objects of `role` owned by `instance`.
    pub fn new(role: Role, instance: &InstanceId) -> Self {
        Self {
            role,
            instance: instance.clone(),
            extra: Labels::new(),
        }
    }

    /// Narrows the scope by one more label (a run id, a repo, a pool key, a test scope).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The owning instance.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// The labels to create an object with: managed, role, instance, schema, and the
    /// narrowing labels.
    pub fn labels(&self) -> Labels {
        let mut labels = Labels::from([
            (MANAGED.to_owned(), "true".to_owned()),
            (ROLE.to_owned(), self.role.as_str().to_owned()),
            (INSTANCE.to_owned(), self.instance.to_string()),
            (SCHEMA.to_owned(), SCHEMA_VERSION.to_owned()),
        ]);
        labels.extend(self.extra.clone());
        labels
    }

    /// The filter matching exactly the objects created with [`Scope::labels`] (of any schema
    /// version).
    pub fn filter(&self) -> LabelFilter {
        let mut filter = LabelFilter::managed()
            .with(INSTANCE, self.instance.to_string())
            .with(ROLE, self.role.as_str());
        for (key, value) in &self.extra {
            filter = filter.with(key.clone(), value.clone());
        }
        filter
    }

    /// Whether an object with `labels` lies in this scope (inspect before touching anything
    /// addressed by name).
    pub fn owns(&self, labels: &Labels) -> bool {
        self.filter().matches(labels)
    }
}

/// Whether `labels` mark an object as slipway-managed.
pub fn is_managed(labels: &Labels) -> bool {
    labels.get(MANAGED).map(String::as_str) == Some("true")
}

/// A conjunction of label conditions used to list objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabelFilter {
    conditions: Vec<(String, Option<String>)>,
}

impl LabelFilter {
    /// A filter matching every slipway-managed object.
    pub fn managed() -> Self {
        Self::default().with(MANAGED, "true")
    }

    /// Also require `key=value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.conditions.push((key.into(), Some(value.into())));
        self
    }

    /// Also require that `key` is present, whatever its value.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.conditions.push((key.into(), None));
        self
    }

    /// The conditions in the engine's filter syntax: `key=value` or `key`.
    pub fn to_engine_filters(&self) -> Vec<String> {
        self.conditions
            .iter()
            .map(|(key, value)| match value {
                Some(value) => format!("{key}={value}"),
                None => key.clone(),
            })
            .collect()
    }

    /// Whether `labels` satisfy every condition.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.conditions
            .iter()
            .all(|(key, value)| match (labels.get(key), value) {
                (Some(actual), Some(wanted)) => actual == wanted,
                (Some(_), None) => true,
                (None, _) => false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_labels_carry_role_instance_and_schema() {
        let instance = InstanceId::new("abc123");
        let labels = Scope::new(Role::Pool, &instance).labels();
        assert!(is_managed(&labels));
        assert_eq!(labels[ROLE], "pool");
        assert_eq!(labels[INSTANCE], "abc123");
        assert_eq!(labels[SCHEMA], SCHEMA_VERSION);
    }

    #[test]
    fn a_scope_owns_only_its_role_instance_and_narrowing_labels() {
        let instance = InstanceId::new("i");
        let run = Scope::new(Role::Run, &instance).with(RUN_ID, "r1");
        let labels = run.labels();
        assert!(run.owns(&labels));
        assert!(Scope::new(Role::Run, &instance).owns(&labels));
        assert!(!Scope::new(Role::Buildkit, &instance).owns(&labels));
        assert!(!Scope::new(Role::Run, &InstanceId::new("j")).owns(&labels));
        assert!(!Scope::new(Role::Run, &instance)
            .with(RUN_ID, "r2")
            .owns(&labels));
        let mut unmanaged = labels.clone();
        unmanaged.remove(MANAGED);
        assert!(!run.owns(&unmanaged) && !is_managed(&unmanaged));
        unmanaged.insert(MANAGED.into(), "false".into());
        assert!(!is_managed(&unmanaged));
    }

    #[test]
    fn slipway_s_own_labels_are_reserved_and_others_are_not() {
        assert!(is_reserved(INSTANCE) && is_reserved(MANAGED) && is_reserved(CREATOR));
        assert!(!is_reserved("dev.slipway.test") && !is_reserved("team"));
    }

    #[test]
    fn filter_matches_values_and_bare_keys() {
        let labels = Scope::new(Role::Run, &InstanceId::new("i")).labels();
        assert!(LabelFilter::managed().with(ROLE, "run").matches(&labels));
        assert!(!LabelFilter::managed().with(ROLE, "pool").matches(&labels));
        assert!(LabelFilter::default().with_key(INSTANCE).matches(&labels));
        assert!(!LabelFilter::default().with_key(RUN_ID).matches(&labels));
        assert_eq!(
            LabelFilter::managed().with_key(RUN_ID).to_engine_filters(),
            vec!["dev.slipway.managed=true".to_owned(), RUN_ID.to_owned()]
        );
    }
}
