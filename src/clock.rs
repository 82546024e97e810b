//! The wall clock a cache hit reads.
//!
//! A precise read of the wall clock costs a few tens of nanoseconds, a large share of a hit. Where the
//! kernel keeps a coarse clock (Linux: `CLOCK_REALTIME_COARSE`, updated every tick, read in a few
//! nanoseconds), a hit reads that instead, as bounds on the current time: the coarse reading is no later
//! than the precise time and at most one tick earlier. Each check takes the bound that makes it stricter
//! (expiry and the cache TTL the latest possible time, `nbf` the earliest), so a coarse clock can end an
//! entry's service a tick early, never late (unless the kernel's tick itself runs late, as on a virtual
//! CPU its host holds up, and then by that delay).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time, known to lie in `earliest..=latest` (since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeBounds {
    pub(crate) earliest: Duration,
    pub(crate) latest: Duration,
}

impl TimeBounds {
    /// An exact reading.
    pub(crate) fn exact(now: Duration) -> Self {
        Self {
            earliest: now,
            latest: now,
        }
    }
}

/// The clock a cache reads on hits: the coarse clock when the kernel has one, else the precise one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HitClock {
    /// The coarse clock's tick, when it is used.
    coarse_tick: Option<Duration>,
}

impl HitClock {
    /// Probes the coarse clock once; a kernel without one (or with a tick above a second) gets the
    /// precise clock.
    pub(crate) fn new() -> Self {
        Self {
            coarse_tick: coarse::tick().filter(|tick| *tick <= Duration::from_secs(1)),
        }
    }

    pub(crate) fn now(&self) -> TimeBounds {
        if let Some(tick) = self.coarse_tick
            && let Some(earliest) = coarse::now()
        {
            return TimeBounds {
                earliest,
                latest: earliest.saturating_add(tick),
            };
        }
        TimeBounds::exact(precise_now())
    }
}

/// The current time since the epoch, precisely.
pub(crate) fn precise_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(all(
    feature = "coarse-clock",
    any(target_os = "linux", target_os = "android")
))]
mod coarse {
    use rustix::time::{ClockId, DynamicClockId, Timespec, clock_getres, clock_gettime_dynamic};
    use std::time::Duration;

    fn read() -> Option<Timespec> {
        clock_gettime_dynamic(DynamicClockId::Known(ClockId::RealtimeCoarse)).ok()
    }

    fn duration(time: Timespec) -> Option<Duration> {
        let secs = u64::try_from(time.tv_sec).ok()?;
        let nanos = u32::try_from(time.tv_nsec)
            .ok()
            .filter(|n| *n < 1_000_000_000)?;
        Some(Duration::new(secs, nanos))
    }

    /// The tick, if the clock can be read at all (it cannot on kernels older than 2.6.32).
    pub(super) fn tick() -> Option<Duration> {
        read()?;
        duration(clock_getres(ClockId::RealtimeCoarse)).filter(|tick| !tick.is_zero())
    }

    pub(super) fn now() -> Option<Duration> {
        duration(read()?)
    }
}

#[cfg(not(all(
    feature = "coarse-clock",
    any(target_os = "linux", target_os = "android")
)))]
mod coarse {
    use std::time::Duration;

    pub(super) fn tick() -> Option<Duration> {
        None
    }

    pub(super) fn now() -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_hold_the_precise_time() {
        let clock = HitClock::new();
        // A virtual CPU held up by its host can make the kernel's tick late; not by this much.
        let late_tick = Duration::from_millis(50);
        for _ in 0..1000 {
            let before = precise_now();
            let bounds = clock.now();
            let after = precise_now();
            assert!(bounds.earliest <= bounds.latest);
            // The precise time of the read lies in `before..=after`; the bounds must hold it.
            assert!(bounds.earliest <= after, "{bounds:?} after {after:?}");
            assert!(
                bounds.latest + late_tick >= before,
                "{bounds:?} before {before:?}"
            );
        }
    }

    #[cfg(all(feature = "coarse-clock", target_os = "linux"))]
    #[test]
    fn linux_hits_read_the_coarse_clock() {
        let tick = HitClock::new()
            .coarse_tick
            .expect("a coarse clock on Linux");
        assert!(tick <= Duration::from_secs(1), "{tick:?}");
    }
}
