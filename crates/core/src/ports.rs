//! Host ports: the range dev servers are published from, and leases of single ports.

use crate::time::Timestamp;
use crate::{Error, Result};

/// An inclusive range of host ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
}

impl PortRange {
    /// slipway's default range for dev servers, 10000–20000.
    pub const DEFAULT: PortRange = PortRange {
        first: 10000,
        last: 20000,
    };

    /// A range `first..=last`; [`Error::Invalid`] when empty or starting at 0.
    pub fn new(first: u16, last: u16) -> Result<Self> {
        if first == 0 || first > last {
            return Err(Error::invalid(
                "port range",
                format!(
                    "{first}-{last} is empty or starts at 0; expected 1 <= first <= last <= 65535"
                ),
            ));
        }
        Ok(Self { first, last })
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// How many ports it holds.
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::str::FromStr for PortRange {
    type Err = Error;

    /// Parses `FIRST-LAST`, e.g. `10000-20000`.
    fn from_str(text: &str) -> Result<Self> {
        let invalid = |reason: String| {
            Error::invalid(
                "port range",
                format!(
                    "`{}` {reason}; expected FIRST-LAST, e.g. 10000-20000",
                    text.escape_debug()
                ),
            )
        };
        let (first, last) = text
            .split_once('-')
            .ok_or_else(|| invalid("has no `-`".into()))?;
        let port = |p: &str| {
            p.trim().parse::<u16>().map_err(|_| {
                invalid(format!(
                    "has `{}`, which is not a port (1-65535)",
                    p.escape_debug()
                ))
            })
        };
        PortRange::new(port(first)?, port(last)?)
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// A request for the lowest free host port of a range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortLeaseRequest {
    /// Where to look.
    pub range: PortRange,
    /// Who holds the lease (an environment or container id).
    pub holder: String,
    /// Ports known to be busy outside slipway, to pass over.
    pub skip: Vec<u16>,
}

/// A host port leased to a holder; the store never leases a port twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortLease {
    /// The host port.
    pub port: u16,
    /// Who holds it.
    pub holder: String,
    /// Since when.
    pub leased_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_must_be_non_empty_and_start_above_zero() {
        assert!(PortRange::new(0, 10).is_err());
        assert!(PortRange::new(20, 10).is_err());
        let range = PortRange::new(10000, 10002).unwrap();
        assert_eq!(range.len(), 3);
        assert!(range.contains(10002) && !range.contains(10003));
        assert_eq!(PortRange::DEFAULT.to_string(), "10000-20000");
    }

    #[test]
    fn port_ranges_parse_with_clear_errors() {
        assert_eq!(
            "10000-20000".parse::<PortRange>().unwrap(),
            PortRange::DEFAULT
        );
        for (bad, says) in [
            ("10000", "FIRST-LAST"),
            ("10-x", "not a port"),
            ("20-10", "empty"),
            ("0-5", "starts at 0"),
        ] {
            let err = bad.parse::<PortRange>().unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
