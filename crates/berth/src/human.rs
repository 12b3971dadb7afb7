//! Numbers for people, the way Docker's CLI prints them (go-units).

pub use berth_engine::human::{duration, since};

/// Docker's `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(v), UNITS[i])
}

/// Docker's `BytesSize`: binary units, four significant digits ("1.758MiB").
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", sig(v, 4), UNITS[i])
}

/// Go's `%.3g` for the values `size` produces.
fn sig3(v: f64) -> String {
    sig(v, 3)
}

/// Go's `%.<n>g` for non-negative values below 10^n.
fn sig(v: f64, n: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (n - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Parses Docker's memory sizes (`64m`, `1g`, `512k`, bytes): binary units.
pub fn parse_ram(s: &str) -> Result<i64, String> {
    berth_engine::logs::parse_size(s)
        .map(|v| v as i64)
        .map_err(|_| format!("invalid size: '{s}'"))
}

/// Docker's "2026-11-28 03:32:31 +0000 UTC" form of a time.
pub fn created_at(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "Less than a second");
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(45), "45 seconds");
        assert_eq!(duration(90), "About a minute");
        assert_eq!(duration(600), "10 minutes");
        assert_eq!(duration(3600), "About an hour");
        assert_eq!(duration(3 * 86400), "3 days");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1240), "1.24kB");
        assert_eq!(size(4_260_000), "4.26MB");
        assert_eq!(size(12_300_000), "12.3MB");
        assert_eq!(size(100_000_000), "100MB");
        assert_eq!(bytes(1_843_200), "1.758MiB");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(25_136_000_000), "23.41GiB");
    }
}
