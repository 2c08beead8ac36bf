//! Identifiers of engine objects and slipway records.
//!
//! Engine ids are opaque strings the engine hands out; wrapping them keeps a container id from
//! being passed where a network id is expected.

use std::fmt;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as handed out by its source.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    };
}

opaque_id!(
    /// A container id (or name) as the engine accepts it.
    ContainerId
);
opaque_id!(
    /// A network id (or name) as the engine accepts it.
    NetworkId
);
opaque_id!(
    /// An image id (`sha256:…`) as the engine reports it.
    ImageId
);
opaque_id!(
    /// The id of an exec instance inside a container.
    ExecId
);
opaque_id!(
    /// The id of a slipway run (`docker:host` / `docker:dind`).
    RunId
);
opaque_id!(
    /// The id of a slipway state directory; every object it creates carries it as a label.
    InstanceId
);
