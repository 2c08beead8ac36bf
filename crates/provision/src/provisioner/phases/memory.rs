//! Whether a container that ran out of time had used up its memory: a program starved of
//! memory without swap crawls (the kernel evicts its own code pages) instead of failing, and
//! the timeout message should say so.

use std::time::Duration;

use super::SetupRun;
use crate::provisioner::scripts;

/// How long the probe may take; a container that is thrashing answers slowly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl SetupRun<'_> {
    /// The container's memory limit in bytes when its use was within a tenth of it; `None`
    /// when it was not, or when the use can't be read.
    pub(super) async fn memory_near_limit(&self) -> Option<u64> {
        let outcome = self
            .sh(
                "read the memory use",
                scripts::MEMORY_USE,
                &[],
                PROBE_TIMEOUT,
            )
            .await
            .ok()?;
        near_limit(&outcome.stdout_text())
    }
}

/// Parses `"<used> <limit>"` (bytes; a limit of `max` means none).
fn near_limit(output: &str) -> Option<u64> {
    let mut numbers = output.split_whitespace().map(str::parse::<u64>);
    let (used, limit) = (numbers.next()?.ok()?, numbers.next()?.ok()?);
    (limit > 0 && used >= limit - limit / 10).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::near_limit;

    #[test]
    fn only_a_use_within_a_tenth_of_a_real_limit_counts() {
        assert_eq!(near_limit("66060288 67108864\n"), Some(67_108_864));
        assert_eq!(near_limit("67108864 67108864"), Some(67_108_864));
        assert_eq!(near_limit("45817856 67108864"), None);
        // cgroup v2 without a limit, v1's "unlimited", nothing readable.
        assert_eq!(near_limit("45817856 max"), None);
        assert_eq!(near_limit("45817856 9223372036854771712"), None);
        assert_eq!(near_limit(""), None);
    }
}
