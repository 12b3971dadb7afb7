//! Docker's json-file log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"<RFC 3339 nanos>"}`, with size-based rotation
//! (`max-size`, `max-file`) into `<file>.1`, `<file>.2`, ….

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One log line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    /// The text, with its newline if it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

/// Parses Docker's size strings (`10m`, `1g`, `512k`, plain bytes; binary units).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| Error::invalid(format!("invalid size: '{s}'")))?;
    if n < 0.0 {
        return Err(Error::invalid(format!("invalid size: '{s}'")));
    }
    Ok((n * mul as f64) as u64)
}

/// Checks `--log-opt` keys and values for the json-file driver.
pub fn validate_options(opts: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in opts {
        match k.as_str() {
            "max-size" => {
                parse_size(v)?;
            }
            "max-file" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid value for max-file: {v}")))?;
                // Without max-size it changes nothing (the file never rotates), as Docker's.
                if n < 1 {
                    return Err(Error::invalid("max-file cannot be less than 1"));
                }
            }
            "compress" | "labels" | "env" | "env-regex" | "tag" | "mode" | "max-buffer-size" => {}
            other => {
                return Err(Error::invalid(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )))
            }
        }
    }
    Ok(())
}

/// Appends entries to a container's log, rotating by size.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    line: Vec<u8>,
}

impl LogWriter {
    /// Opens (appending) the log at `path` with the json-file options `opts`.
    pub fn open(path: &Path, opts: &BTreeMap<String, String>) -> Result<LogWriter> {
        // Logs carry what containers print (secrets too): owner and group only, as Docker's.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)
            .ctx(|| format!("open log {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let max_size = opts
            .get("max-size")
            .map(|s| parse_size(s))
            .transpose()?
            .filter(|s| *s > 0);
        let max_file = opts
            .get("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1)
            .max(1);
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file,
            line: Vec::with_capacity(256),
        })
    }

    /// Writes one entry of `data` (a line, or a chunk of an over-long line) from `stream`.
    pub fn write(&mut self, stream: &str, data: &[u8]) -> std::io::Result<()> {
        let entry = LogEntry {
            log: String::from_utf8_lossy(data).into_owned(),
            stream: stream.to_string(),
            time: crate::store::now_rfc3339(),
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &entry)?;
        self.line.push(b'\n');
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + self.line.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file.write_all(&self.line)?;
        self.size += self.line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_file > 1 {
            for i in (1..self.max_file - 1).rev() {
                let from = rotated(&self.path, i);
                if from.exists() {
                    fs::rename(&from, rotated(&self.path, i + 1))?;
                }
            }
            fs::rename(&self.path, rotated(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        } else {
            self.file.set_len(0)?;
            self.file.seek(SeekFrom::Start(0))?;
        }
        self.size = 0;
        Ok(())
    }
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The log files of `path`, oldest first (rotated ones, then the live one).
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut n = 1;
    while rotated(path, n).exists() {
        out.push(rotated(path, n));
        n += 1;
    }
    out.reverse();
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

/// Reads every entry of the log at `path`, oldest first; undecodable lines are skipped.
pub fn read_all(path: &Path) -> Vec<LogEntry> {
    let mut out = Vec::new();
    OpenLog::open(path).read_existing(|e| {
        out.push(e.clone());
        true
    });
    out
}

/// A container's log files, opened: what they hold stays readable after the container is
/// removed, so a client that asked before the removal gets every line.
#[derive(Debug)]
pub struct OpenLog {
    path: PathBuf,
    rotated: Vec<File>,
    live: Option<File>,
}

impl OpenLog {
    /// Opens the rotated files (oldest first) and the live one at `path`.
    pub fn open(path: &Path) -> OpenLog {
        let mut rotated = Vec::new();
        let mut live = None;
        for p in files(path) {
            if let Ok(f) = File::open(&p) {
                if p == path {
                    live = Some(f);
                } else {
                    rotated.push(f);
                }
            }
        }
        OpenLog {
            path: path.to_path_buf(),
            rotated,
            live,
        }
    }

    /// Hands each entry written so far to `f` until it says stop (then false); returns
    /// whether it went through, and the live file's length it read to, from which
    /// [`OpenLog::follow`] goes on.
    pub fn read_existing(&self, mut f: impl FnMut(&LogEntry) -> bool) -> (bool, u64) {
        let offset = self
            .live
            .as_ref()
            .and_then(|l| l.metadata().ok())
            .map_or(0, |m| m.len());
        let mut each = |r: &mut dyn BufRead| {
            for line in r.lines().map_while(|l| l.ok()) {
                if let Ok(e) = serde_json::from_str::<LogEntry>(&line) {
                    if !f(&e) {
                        return false;
                    }
                }
            }
            true
        };
        let mut going = true;
        for r in &self.rotated {
            going = going && each(&mut BufReader::new(r));
        }
        if let (true, Some(l)) = (going, &self.live) {
            going = each(&mut BufReader::new(std::io::Read::take(l, offset)));
        }
        (going, offset)
    }

    /// Follows the live file from `offset` (see [`follow`]).
    pub fn follow(
        self,
        offset: u64,
        emit: impl FnMut(&LogEntry) -> bool,
        done: impl Fn() -> bool,
    ) -> Result<()> {
        follow(&self.path, self.live, offset, emit, done)
    }
}

/// Follows the live log from byte `offset` of `cur` (the live file as opened, else opened
/// here), handing each new entry to `emit`, until `done` says the writer is finished and
/// nothing new arrived. At a rotation (the path names another file) the old file is read to
/// its end before the new one is followed from its beginning; a removed log is read to the end
/// of what it holds.
pub fn follow(
    path: &Path,
    mut cur: Option<File>,
    mut offset: u64,
    mut emit: impl FnMut(&LogEntry) -> bool,
    done: impl Fn() -> bool,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut pending = String::new();
    loop {
        let finished = done();
        let mut progressed = false;
        if cur.is_none() {
            cur = File::open(path).ok();
        }
        if let Some(f) = cur.as_mut() {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0;
                pending.clear();
            }
            if len > offset {
                f.seek(SeekFrom::Start(offset)).ctx(|| "seek log".into())?;
                let mut r = BufReader::new(&*f);
                let mut line = String::new();
                loop {
                    line.clear();
                    let n = r.read_line(&mut line).ctx(|| "read log".into())?;
                    if n == 0 {
                        break;
                    }
                    offset += n as u64;
                    progressed = true;
                    pending.push_str(&line);
                    if !line.ends_with('\n') {
                        continue;
                    }
                    if let Ok(e) = serde_json::from_str::<LogEntry>(&pending) {
                        if !emit(&e) {
                            return Ok(());
                        }
                    }
                    pending.clear();
                }
            }
            let rotated = match (fs::metadata(path), f.metadata()) {
                (Ok(p), Ok(m)) => p.ino() != m.ino() || p.dev() != m.dev(),
                _ => false,
            };
            if !progressed && rotated {
                cur = File::open(path).ok();
                offset = 0;
                pending.clear();
                continue;
            }
        }
        if finished && !progressed {
            return Ok(());
        }
        if !progressed {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// An entry's time as `--timestamps` prints it: UTC, nanoseconds.
pub fn timestamp(e: &LogEntry) -> String {
    chrono::DateTime::parse_from_rfc3339(&e.time)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        })
        .unwrap_or_else(|_| e.time.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `lines` stdout lines `line <i>` in 200-byte files, at most `max_file`.
    fn rotated_log(d: &Path, max_file: u32, lines: usize) -> PathBuf {
        let p = d.join("c-json.log");
        let mut opts = BTreeMap::new();
        opts.insert("max-size".to_string(), "200".to_string());
        opts.insert("max-file".to_string(), max_file.to_string());
        let mut w = LogWriter::open(&p, &opts).unwrap();
        for i in 0..lines {
            w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
        }
        p
    }

    #[test]
    fn entries_stream_in_order_across_rotations_and_stop_when_asked() {
        let d = tempfile::tempdir().unwrap();
        let p = rotated_log(d.path(), 5, 12);
        let mut seen = Vec::new();
        OpenLog::open(&p).read_existing(|e| {
            seen.push(e.log.trim().to_string());
            true
        });
        let n: Vec<usize> = seen.iter().map(|l| l[5..].parse().unwrap()).collect();
        assert!(
            n.windows(2).all(|w| w[0] < w[1]) && *n.last().unwrap() == 11,
            "{seen:?}"
        );
        let mut count = 0;
        let (went, _) = OpenLog::open(&p).read_existing(|_| {
            count += 1;
            count < 3
        });
        assert!(!went);
        assert_eq!(count, 3, "it stops when asked");
    }

    #[test]
    fn an_opened_log_gives_its_lines_after_its_container_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let p = rotated_log(d.path(), 3, 6);
        let log = OpenLog::open(&p);
        for f in files(&p) {
            fs::remove_file(f).unwrap();
        }
        let mut seen = Vec::new();
        let (went, offset) = log.read_existing(|e| {
            seen.push(e.log.clone());
            true
        });
        assert!(went && offset > 0);
        assert_eq!(
            seen.last().map(String::as_str),
            Some("line 5\n"),
            "{seen:?}"
        );
        // Following a removed log ends once its writer is done, having lost nothing.
        let mut more = 0;
        log.follow(
            offset,
            |_| {
                more += 1;
                true
            },
            || true,
        )
        .unwrap();
        assert_eq!(more, 0);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("2m").unwrap(), 2 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn writes_docker_lines_and_rotates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut opts = BTreeMap::new();
        opts.insert("max-size".to_string(), "200".to_string());
        opts.insert("max-file".to_string(), "3".to_string());
        let mut w = LogWriter::open(&p, &opts).unwrap();
        for i in 0..20 {
            w.write(
                if i % 2 == 0 { "stdout" } else { "stderr" },
                format!("line {i}\n").as_bytes(),
            )
            .unwrap();
        }
        let all = read_all(&p);
        assert!(all.len() < 20, "rotation dropped the oldest lines");
        assert_eq!(all.last().unwrap().log, "line 19\n");
        assert_eq!(all.last().unwrap().stream, "stderr");
        assert!(files(&p).len() <= 3);
        assert!(!rotated(&p, 3).exists());
        let raw = fs::read_to_string(&p).unwrap();
        assert!(raw.lines().all(|l| l.starts_with("{\"log\":")));
    }

    #[test]
    fn options_validated() {
        let mut o = BTreeMap::new();
        o.insert("max-file".to_string(), "0".to_string());
        assert!(validate_options(&o).is_err());
        // Alone it is accepted (and changes nothing), as Docker's.
        o.insert("max-file".to_string(), "3".to_string());
        assert!(validate_options(&o).is_ok());
        o.insert("max-size".to_string(), "1m".to_string());
        assert!(validate_options(&o).is_ok());
        o.insert("bogus".to_string(), "1".to_string());
        assert!(validate_options(&o).is_err());
    }
}
