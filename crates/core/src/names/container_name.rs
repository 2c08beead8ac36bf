use crate::{Error, Result};

use super::{has_control, validated_name};

/// A container (or network, volume) name the engine accepts: starts with an ASCII letter or
/// digit, then letters, digits, `_`, `.` or `-`; 2–128 characters.
///
/// ```
/// use slipway_core::ContainerName;
/// assert!("slipway-pool-1".parse::<ContainerName>().is_ok());
/// assert!("-rm".parse::<ContainerName>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerName(String);

validated_name!(ContainerName);

const MAX_LEN: usize = 128;

impl ContainerName {
    fn validate(value: &str) -> Result<()> {
        let invalid = |reason: &str| {
            Err(Error::invalid(
                "name",
                format!(
                    "`{}` {reason}; a name starts with a letter or digit and holds only letters, \
                     digits, `_`, `.` and `-` (2-{MAX_LEN} characters)",
                    value.escape_debug()
                ),
            ))
        };
        if has_control(value) {
            return invalid("contains a control character");
        }
        if value.len() < 2 || value.len() > MAX_LEN {
            return invalid("has the wrong length");
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return invalid("does not start with a letter or digit");
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return invalid(&format!("contains `{}`", bad.escape_debug()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_engine_style_names() {
        for ok in ["ab", "slipway-pool-1", "a.b_c-d", "0abc", &"a".repeat(128)] {
            assert!(ok.parse::<ContainerName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_names_the_engine_would_refuse() {
        for bad in [
            "",
            "a",
            "-a",
            ".a",
            "a b",
            "a/b",
            "a\nb",
            "ä1",
            &"a".repeat(129),
        ] {
            let err = bad.parse::<ContainerName>().unwrap_err();
            assert!(err.to_string().contains("letters, digits"), "{err}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<ContainerName>("\"ok-name\"").is_ok());
        assert!(serde_json::from_str::<ContainerName>("\"-bad\"").is_err());
    }
}
