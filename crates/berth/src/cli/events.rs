//! `berth events`: the host's event log, filtered, then followed.

use super::EventsArgs;
use crate::template::Template;
use crate::{CmdResult, Exit};
use anyhow::anyhow;
use berth_engine::events::{self, Event};
use berth_engine::Engine;
use std::io::Write;
use std::time::Duration;

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
    let filters = super::filters::filter_pairs(&a.filter)?;
    if let Some((k, _)) = filters
        .iter()
        .find(|(k, _)| !events::FILTER_KEYS.contains(&k.as_str()))
    {
        return Err(anyhow!("invalid filter '{k}'"));
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
    let mut tail = events::Tail::new(&engine.root);
    let mut out = std::io::stdout().lock();
    if let Some(s) = since_ns {
        for e in events::read_all(&engine.root) {
            if e.time_nano >= s
                && until_ns.is_none_or(|u| e.time_nano <= u)
                && events::matches(&e, &filters)
            {
                writeln!(out, "{}", line(&e, template.as_ref())?)?;
            }
        }
        out.flush()?;
    }
    // Follow what comes next, until --until has passed (forever without it).
    loop {
        if until_ns.is_some_and(|u| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) > u) {
            return Ok(0);
        }
        for e in tail.next_batch() {
            if until_ns.is_none_or(|u| e.time_nano <= u) && events::matches(&e, &filters) {
                writeln!(out, "{}", line(&e, template.as_ref())?)?;
            }
        }
        out.flush()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}
