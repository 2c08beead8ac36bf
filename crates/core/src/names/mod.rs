//! Validated names: strings with rules, checked once at the edge.
//!
//! Each type can only be built through [`std::str::FromStr`] / `TryFrom<String>` (also used by
//! serde), so holding one proves the value is valid. Errors are [`Error::Invalid`] and say
//! what is allowed.

mod container_name;
mod git_ref;
mod image_ref;
mod remote_url;
mod repo_slug;

pub use container_name::ContainerName;
pub use git_ref::GitRef;
pub use image_ref::ImageRef;
pub use remote_url::RemoteUrl;
pub use repo_slug::RepoSlug;

#[cfg(doc)]
use crate::Error;

/// Implements the string plumbing shared by every validated name: `Display`, `AsRef<str>`,
/// `FromStr` and serde through `TryFrom<String>`. The type provides `fn validate(&str) -> Result<()>`.
macro_rules! validated_name {
    ($name:ident) => {
        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(value: &str) -> $crate::Result<Self> {
                Self::validate(value)?;
                Ok(Self(value.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::Error;

            fn try_from(value: String) -> $crate::Result<Self> {
                Self::validate(&value)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
pub(crate) use validated_name;

/// Whether `value` contains an ASCII control character (including DEL).
pub(crate) fn has_control(value: &str) -> bool {
    value.chars().any(|c| c.is_control())
}
