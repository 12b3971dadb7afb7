//! `berth events`: the host's event log, filtered, then followed.

use super::EventsArgs;
use crate::format::Template;
use crate::{CmdResult, Exit};
use anyhow::anyhow;
use berth_engine::events::{self, Event};
use berth_engine::Engine;
use std::io::{BufRead, Seek, Write};
use std::time::Duration;

fn matches(e: &Event, filters: &[(String, String)]) -> bool {
    // Same key: any value may match; different keys: all must.
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().all(|k| {
        filters
            .iter()
            .filter(|(fk, _)| fk == k)
            .any(|(_, v)| match k {
                "type" => e.typ == *v,
                "event" => e.action == *v,
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

fn line(e: &Event, t: Option<&Template>) -> anyhow::Result<String> {
    if let Some(t) = t {
        let mut v = serde_json::to_value(e)?;
        // Docker's older top-level fields, which templates still use.
        v["status"] = serde_json::json!(e.action);
        v["id"] = serde_json::json!(e.actor.id);
        v["from"] = serde_json::json!(e.actor.attributes.get("image").cloned().unwrap_or_default());
        return Ok(t.render(&v).map_err(|x| Exit {
            code: 1,
            message: x.to_string(),
        })?);
    }
    let ts = chrono::DateTime::from_timestamp(
        e.time_nano / 1_000_000_000,
        (e.time_nano % 1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    .unwrap_or_default();
    let attrs: Vec<String> = e
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Ok(format!(
        "{ts} {} {} {} ({})",
        e.typ,
        e.action,
        e.actor.id,
        attrs.join(", ")
    ))
}

/// `berth events`.
pub fn events(engine: &Engine, a: EventsArgs) -> CmdResult {
    let since = a
        .since
        .as_deref()
        .map(super::container::parse_time)
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(super::container::parse_time)
        .transpose()?;
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        if !["type", "event", "container", "image", "volume", "label"].contains(&k) {
            return Err(anyhow!("invalid filter '{k}'"));
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let template = a
        .format
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| Exit {
            code: 1,
            message: e.to_string(),
        })?;
    let nanos = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let since_ns = since.map(nanos);
    let until_ns = until.map(nanos);
    let (path, offset) = events::live(&engine.root);
    let mut out = std::io::stdout().lock();
    if let Some(s) = since_ns {
        for e in events::read_all(&engine.root) {
            if e.time_nano >= s
                && until_ns.is_none_or(|u| e.time_nano <= u)
                && matches(&e, &filters)
            {
                writeln!(out, "{}", line(&e, template.as_ref())?)?;
            }
        }
        out.flush()?;
    }
    // Follow what comes next, until --until has passed (forever without it).
    let mut pos = offset;
    loop {
        if until_ns.is_some_and(|u| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) > u) {
            return Ok(0);
        }
        if let Ok(mut f) = std::fs::File::open(&path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < pos {
                pos = 0; // rotated
            }
            if len > pos {
                f.seek(std::io::SeekFrom::Start(pos))?;
                let mut r = std::io::BufReader::new(f);
                let mut l = String::new();
                while r.read_line(&mut l)? > 0 {
                    if !l.ends_with('\n') {
                        break;
                    }
                    pos += l.len() as u64;
                    if let Ok(e) = serde_json::from_str::<Event>(&l) {
                        if until_ns.is_none_or(|u| e.time_nano <= u) && matches(&e, &filters) {
                            writeln!(out, "{}", line(&e, template.as_ref())?)?;
                        }
                    }
                    l.clear();
                }
                out.flush()?;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
