//! Secret values: never shown, never serialized, and taken out of text that may echo them.

use std::fmt;

/// What a secret shows as wherever it is printed, logged or serialized.
pub const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not searched for in text: a one- or two-character value
/// would blank out unrelated output.
pub const MIN_REDACTABLE_LEN: usize = 4;

/// A secret string (a token, a password). `Debug`, `Display` and `Serialize` show
/// [`REDACTED`]; only [`Secret::expose`] gives the value, for the one place that uses it.
/// It deserializes from a plain string, so requests and config can carry one in.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Takes known secret values out of text before it is shown or stored (a command's output,
/// an error): each occurrence becomes [`REDACTED`].
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<Secret>,
}

impl Redactor {
    /// A redactor of `secrets` (those shorter than [`MIN_REDACTABLE_LEN`] are left out).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_REDACTABLE_LEN)
            .map(Secret::new)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every known secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.expose()) {
                text = text.replace(secret.expose(), REDACTED);
            }
        }
        text
    }

    /// Redacts `text` in place.
    pub fn redact_in_place(&self, text: &mut String) {
        if self.secrets.iter().any(|s| text.contains(s.expose())) {
            *text = self.redact(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_or_serializes() {
        let secret = Secret::new("tok-123456");
        assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"<redacted>\"");
        let read: Secret = serde_json::from_str("\"tok-123456\"").unwrap();
        assert_eq!(read.expose(), "tok-123456");
    }

    #[test]
    fn known_secrets_are_taken_out_of_text() {
        let redactor = Redactor::new(["tok-123456", "tok-123456-long", "ab"]);
        assert_eq!(
            redactor.redact("a tok-123456-long and tok-123456, ab"),
            "a <redacted> and <redacted>, ab"
        );
        let mut text = "npm ERR! 401 for tok-123456".to_owned();
        redactor.redact_in_place(&mut text);
        assert_eq!(text, "npm ERR! 401 for <redacted>");
    }
}
