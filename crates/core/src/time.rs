//! Wall-clock timestamps in records and log lines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (UTC). Serialised as a plain integer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Wraps milliseconds since the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Converts a [`SystemTime`], saturating at the epoch.
    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = time
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This timestamp as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs())
        }
    }

    /// Now, or one millisecond after `previous` if the clock has not moved past it: a
    /// record's successive versions always differ.
    pub fn now_after(previous: Timestamp) -> Self {
        let now = Self::now();
        if now.unix_millis() > previous.unix_millis() {
            now
        } else {
            Self::from_unix_millis(previous.unix_millis().saturating_add(1))
        }
    }

    /// How long ago this was, or zero if it lies in the future.
    pub fn elapsed(self) -> Duration {
        Duration::from_millis(u64::try_from(Timestamp::now().0 - self.0).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_system_time() {
        let ts = Timestamp::from_unix_millis(1_708_123_456_789);
        assert_eq!(Timestamp::from_system_time(ts.to_system_time()), ts);
        assert_eq!(ts.unix_seconds(), 1_708_123_456);
    }
}
