//! The event log: every berth process on the host (CLI commands, shims) appends Docker-shaped
//! events to `events.log` in the state root; `berth events` reads and follows it. Appends are
//! single `write(2)`s with O_APPEND, so concurrent writers never interleave; the log is bounded
//! (rotated into `events.log.1` past 2 MiB) so `--since` works after the fact without growing
//! forever.

use crate::store::Root;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

const MAX_LOG: u64 = 2 << 20;

/// Who an event is about.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Actor {
    /// Object id (container id, image id or name, volume name).
    #[serde(rename = "ID")]
    pub id: String,
    /// Details: image, name, exitCode, signal, labels …
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, in the Engine API's shape.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`.
    #[serde(rename = "Type")]
    pub typ: String,
    /// `create`, `start`, `die`, …
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

fn path(root: &Root) -> PathBuf {
    root.join("events.log")
}

/// Records an event; failures to record never fail the operation itself.
pub fn emit(root: &Root, typ: &str, action: &str, id: &str, attributes: &[(&str, &str)]) {
    let now = chrono::Utc::now();
    let ev = Event {
        typ: typ.into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        scope: "local".into(),
        time: now.timestamp(),
        time_nano: now.timestamp_nanos_opt().unwrap_or(0),
    };
    let Ok(mut line) = serde_json::to_vec(&ev) else {
        return;
    };
    line.push(b'\n');
    let p = path(root);
    if std::fs::metadata(&p)
        .map(|m| m.len() > MAX_LOG)
        .unwrap_or(false)
    {
        // Losing a race here only means two renames; readers handle either file.
        let _ = std::fs::rename(&p, root.join("events.log.1"));
    }
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&p) {
        let _ = f.write_all(&line);
    }
}

/// Every recorded event, oldest first.
pub fn read_all(root: &Root) -> Vec<Event> {
    let mut out = Vec::new();
    for p in [root.join("events.log.1"), path(root)] {
        if let Ok(s) = std::fs::read_to_string(&p) {
            out.extend(
                s.lines()
                    .filter_map(|l| serde_json::from_str::<Event>(l).ok()),
            );
        }
    }
    out
}

/// The live log's path and current length, to follow it from there.
pub fn live(root: &Root) -> (PathBuf, u64) {
    let p = path(root);
    let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    (p, len)
}

/// The filter keys `events` takes.
pub const FILTER_KEYS: [&str; 6] = ["type", "event", "container", "image", "volume", "label"];

/// Docker's event filters: the same key matches any of its values, different keys must all.
pub fn matches(e: &Event, filters: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().all(|k| {
        filters
            .iter()
            .filter(|(fk, _)| fk == k)
            .any(|(_, v)| match k {
                "type" => e.typ == *v,
                "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                "container" => {
                    e.typ == "container"
                        && (e.actor.id.starts_with(v.as_str())
                            || e.actor.attributes.get("name") == Some(v))
                }
                "image" => {
                    e.actor.attributes.get("image") == Some(v)
                        || (e.typ == "image"
                            && (e.actor.id == *v || e.actor.attributes.get("name") == Some(v)))
                }
                "volume" => e.typ == "volume" && e.actor.id == *v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => e.actor.attributes.get(lk).map(String::as_str) == Some(lv),
                    None => e.actor.attributes.contains_key(v.as_str()),
                },
                _ => false,
            })
    })
}

/// Follows the log from where it ends now: every berth process appends to it, so this sees
/// the CLI's changes and the daemon's alike.
pub struct Tail {
    path: PathBuf,
    pos: u64,
}

impl Tail {
    /// Starts at the log's current end.
    pub fn new(root: &Root) -> Tail {
        let (path, pos) = live(root);
        Tail { path, pos }
    }

    /// The events appended since the last call (complete lines only).
    pub fn next_batch(&mut self) -> Vec<Event> {
        use std::io::{BufRead, Seek};
        let mut out = Vec::new();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return out;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.pos {
            self.pos = 0; // rotated
        }
        if len == self.pos || f.seek(std::io::SeekFrom::Start(self.pos)).is_err() {
            return out;
        }
        let mut r = std::io::BufReader::new(f);
        let mut l = String::new();
        while r.read_line(&mut l).unwrap_or(0) > 0 {
            if !l.ends_with('\n') {
                break;
            }
            self.pos += l.len() as u64;
            if let Ok(e) = serde_json::from_str::<Event>(&l) {
                out.push(e);
            }
            l.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_append_and_read_back_in_order() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        emit(
            &root,
            "container",
            "create",
            "abc",
            &[("name", "web"), ("image", "busybox")],
        );
        emit(&root, "container", "die", "abc", &[("exitCode", "3")]);
        let all = read_all(&root);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].action, "create");
        assert_eq!(all[1].actor.attributes["exitCode"], "3");
        assert!(all[0].time_nano <= all[1].time_nano);
    }
}
