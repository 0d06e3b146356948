//! Wall-clock formatting of Unix-nanosecond instants in the many shapes log families use.
//!
//! Everything is UTC (as in a cluster whose nodes run UTC); the calendar conversion is
//! Howard Hinnant's `civil_from_days`, so no date crate is needed.

/// Nanoseconds per second.
pub(super) const NS: u64 = 1_000_000_000;

/// Nanoseconds per millisecond.
pub(super) const MS: u64 = 1_000_000;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Civil {
    /// Unix nanoseconds this was made from.
    pub ns: u64,
    /// Calendar year.
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub min: u32,
    /// Second, 0..=59.
    pub sec: u32,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// Breaks Unix nanoseconds into a UTC calendar date and time.
pub(super) fn civil(ns: u64) -> Civil {
    let secs = ns / NS;
    let nanos = (ns % NS) as u32;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    Civil {
        ns,
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        min: ((sod % 3600) / 60) as u32,
        sec: (sod % 60) as u32,
        nanos,
    }
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Civil {
    fn ms(&self) -> u32 {
        self.nanos / 1_000_000
    }

    fn us(&self) -> u32 {
        self.nanos / 1_000
    }

    fn month_name(&self) -> &'static str {
        MONTHS[(self.month as usize + 11) % 12]
    }

    /// `2023-11-14T22:13:20Z` (Kubernetes object timestamps).
    pub fn rfc3339_secs(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        )
    }

    /// `2023-11-14T22:13:20.123Z` (Prometheus, Envoy).
    pub fn iso_ms(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.ms()
        )
    }

    /// `2023-11-14T22:13:20.123456Z` (Istio proxy agent).
    pub fn iso_us(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.us()
        )
    }

    /// Go's RFC3339Nano: `2023-11-14T22:13:20.12345678Z`, trailing zeros trimmed.
    pub fn rfc3339_nano(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        s
    }

    /// `2023-11-14 22:13:20.123` (Spring Boot).
    pub fn spring(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.ms()
        )
    }

    /// `2023-11-14 22:13:20,123` (log4j, Kafka).
    pub fn log4j(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.ms()
        )
    }

    /// `2023-11-14 22:13:20.123 UTC` (PostgreSQL `log_line_prefix = '%m [%p] '`).
    pub fn postgres(&self) -> String {
        format!("{} UTC", self.spring())
    }

    /// `2023-11-14 22:13:20 UTC` (PostgreSQL `%t`, seconds only).
    pub fn postgres_secs(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        )
    }

    /// `1114 22:13:20.123456` (klog header after the level letter).
    pub fn klog(&self) -> String {
        format!(
            "{:02}{:02} {:02}:{:02}:{:02}.{:06}",
            self.month,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.us()
        )
    }

    /// `14/Nov/2023:22:13:20 +0000` (nginx `$time_local`).
    pub fn nginx_access(&self) -> String {
        format!(
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.min,
            self.sec
        )
    }

    /// `2023/11/14 22:13:20` (nginx error log).
    pub fn nginx_error(&self) -> String {
        format!(
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        )
    }

    /// `14 Nov 2023 22:13:20.123` (Redis).
    pub fn redis(&self) -> String {
        format!(
            "{:02} {} {:04} {:02}:{:02}:{:02}.{:03}",
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.min,
            self.sec,
            self.ms()
        )
    }

    /// `2023-11-14T22:13:20.123+0000` (JVM unified logging, `-Xlog:gc`).
    pub fn jvm(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.min,
            self.sec,
            self.ms()
        )
    }

    /// `1700000000.1234567` (zap's epoch-seconds float, shortest round-trip form).
    pub fn epoch_float(&self) -> String {
        // Go's strconv 'f' with precision -1 and Rust's Display both print the shortest
        // representation that round-trips, so the digits match zap's output.
        let f = self.ns as f64 / NS as f64;
        format!("{f}")
    }

    /// Unix milliseconds (pino's `time`).
    pub fn epoch_ms(&self) -> u64 {
        self.ns / MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_of_span_formats() {
        let c = civil(1_700_000_000 * NS + 123_456_789);
        assert_eq!(c.rfc3339_secs(), "2023-11-14T22:13:20Z");
        assert_eq!(c.spring(), "2023-11-14 22:13:20.123");
        assert_eq!(c.klog(), "1114 22:13:20.123456");
        assert_eq!(c.nginx_access(), "14/Nov/2023:22:13:20 +0000");
        assert_eq!(c.redis(), "14 Nov 2023 22:13:20.123");
        assert_eq!(c.rfc3339_nano(), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(c.epoch_float(), "1700000000.1234567");
        let midnight = civil(1_700_006_400 * NS);
        assert_eq!(midnight.rfc3339_nano(), "2023-11-15T00:00:00Z");
        assert_eq!(
            civil(951_782_400 * NS).rfc3339_secs(),
            "2000-02-29T00:00:00Z"
        );
    }
}
