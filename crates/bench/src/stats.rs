//! The measurements every mode reports: operations, failures, elapsed time and
//! latencies, with rates and percentiles.

use std::time::Duration;

/// Latencies and counts of one measured run.
pub struct Stats {
    /// Operations that succeeded.
    pub ops: usize,
    /// Operations that failed.
    pub failed: usize,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Latency of each successful operation, in microseconds.
    pub latencies_us: Vec<u64>,
    /// CPU time the server spent during the run, where it was measured.
    pub server_cpu: Option<Duration>,
}

impl Stats {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per successful operation, in microseconds.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.ops > 0).then(|| cpu.as_secs_f64() * 1e6 / self.ops as f64)
    }

    /// The `p` quantile of the latencies, in milliseconds.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[idx] as f64 / 1000.0
    }
}
