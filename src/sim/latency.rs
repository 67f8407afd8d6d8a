//! The simulated network latency: each answer held so that, on average, it goes out the
//! scenario's `latency_ms` after its request arrived, and what was served is measured.
//!
//! Why not simply `sleep(latency)`: the runtime's timer counts whole milliseconds, rounded
//! up, and a woken answer then waits for a worker. Under the fleet benchmark (four clients,
//! PostgreSQL and this simulator sharing two cores) a 20 ms sleep let answers go 21.7–22.0
//! ms after their requests arrived, on an idle machine about 20.8: the benchmark measured
//! its clients against a latency up to a tenth longer than the floor it divides by. So each
//! answer aims a little early, by how late the answers before it went (a small integral
//! controller), and the realized average is what the scenario says. The correction never
//! exceeds a tenth of the latency, so a long latency (a timeout test's) stays long.
//! `Simulator::served_latency` reports the realized average (BENCHMARKS.md).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Latency {
    /// How early answers aim, in microseconds.
    early_us: AtomicI64,
    /// Answers held, and the microseconds from their requests' arrival to their release.
    served: AtomicU64,
    served_us: AtomicU64,
}

/// Each answer moves the aim by this fraction of how late (or early) it went: about the
/// last few hundred answers decide it, so it follows the machine's load without jitter.
const GAIN: i64 = 64;

impl Latency {
    /// Hold an answer to a request that arrived at `arrived` for `latency` (on average).
    pub(crate) async fn hold(&self, arrived: Instant, latency: Duration) {
        if latency.is_zero() {
            return;
        }
        let due = arrived + latency;
        let cap = i64::try_from(latency.as_micros() / 10).unwrap_or(i64::MAX);
        let early = self.early_us.load(Ordering::Relaxed).clamp(0, cap);
        let aim = due - Duration::from_micros(early.unsigned_abs());
        tokio::time::sleep_until(aim.into()).await;
        let now = Instant::now();
        let late_us = if now >= due {
            i64::try_from(now.duration_since(due).as_micros()).unwrap_or(i64::MAX)
        } else {
            -i64::try_from(due.duration_since(now).as_micros()).unwrap_or(i64::MAX)
        };
        // Racing updates lose a step now and then, which only slows the controller.
        let next = (early + late_us / GAIN).clamp(0, cap);
        self.early_us.store(next, Ordering::Relaxed);
        self.served.fetch_add(1, Ordering::Relaxed);
        let held = u64::try_from(now.duration_since(arrived).as_micros()).unwrap_or(u64::MAX);
        self.served_us.fetch_add(held, Ordering::Relaxed);
    }

    /// Answers held so far, and their total time from arrival to release.
    pub(crate) fn served(&self) -> (u64, Duration) {
        (
            self.served.load(Ordering::Relaxed),
            Duration::from_micros(self.served_us.load(Ordering::Relaxed)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_held_about_the_latency_and_never_much_less() {
        let latency = Latency::default();
        for _ in 0..20 {
            let arrived = Instant::now();
            latency.hold(arrived, Duration::from_millis(5)).await;
            // At most a tenth early, whatever the controller learnt.
            assert!(arrived.elapsed() >= Duration::from_micros(4_500));
        }
        let (n, total) = latency.served();
        assert_eq!(n, 20);
        assert!(total >= Duration::from_micros(20 * 4_500), "{total:?}");
    }

    #[tokio::test]
    async fn late_answers_make_the_next_ones_aim_earlier_within_a_tenth() {
        let latency = Latency::default();
        // Requests that arrived long ago are all late: the aim moves early, to its cap.
        for _ in 0..1000 {
            let arrived = Instant::now() - Duration::from_millis(50);
            latency.hold(arrived, Duration::from_millis(10)).await;
        }
        assert_eq!(latency.early_us.load(Ordering::Relaxed), 1_000);
        let arrived = Instant::now();
        latency.hold(arrived, Duration::from_millis(10)).await;
        assert!(arrived.elapsed() >= Duration::from_millis(9));
        // No latency: nothing held, nothing counted.
        latency.hold(Instant::now(), Duration::ZERO).await;
        assert_eq!(latency.served().0, 1001);
    }
}
