//! Which install command a commit needs, decided by its lockfile.

use sha2::{Digest, Sha256};

/// Lockfiles in the order they are looked for, and the install command each implies.
pub const LOCKFILES: [(&str, &str); 3] = [
    ("pnpm-lock.yaml", "pnpm install --frozen-lockfile"),
    ("package-lock.json", "npm ci"),
    ("yarn.lock", "yarn install --frozen-lockfile"),
];

/// The install command for a lockfile name, if it is one of [`LOCKFILES`].
pub fn command_for(lockfile: &str) -> Option<&'static str> {
    LOCKFILES
        .iter()
        .find(|(name, _)| *name == lockfile)
        .map(|(_, command)| *command)
}

/// A stable fingerprint of a lockfile's content (what an install in the dependency store is keyed by).
pub fn lockfile_hash(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lockfile_has_its_frozen_install() {
        assert_eq!(
            command_for("pnpm-lock.yaml"),
            Some("pnpm install --frozen-lockfile")
        );
        assert_eq!(command_for("package-lock.json"), Some("npm ci"));
        assert_eq!(
            command_for("yarn.lock"),
            Some("yarn install --frozen-lockfile")
        );
        assert_eq!(command_for("Cargo.lock"), None);
        assert_eq!(lockfile_hash(b"a"), lockfile_hash(b"a"));
        assert_ne!(lockfile_hash(b"a"), lockfile_hash(b"b"));
    }
}
