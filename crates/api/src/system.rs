//! `/_ping`, `/version`, `/info`, `/events`, `/auth`.

use crate::{blocking, ApiError, ApiResult, Shared};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::events::{self, Event};
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events_stream))
        .route("/auth", post(auth))
        .route("/system/df", get(df))
}

async fn ping() -> impl IntoResponse {
    (
        [
            ("Builder-Version", "1"),
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
        ],
        "OK",
    )
}

async fn version() -> Json<Value> {
    Json(berth_engine::inspect::server_version())
}

async fn info(State(engine): State<Shared>) -> ApiResult<Json<Value>> {
    blocking(&engine, |e| Ok(Json(e.info()))).await
}

/// An event as dockerd sends it: the current fields plus the old `status`/`id`/`from`.
fn event_json(e: &Event) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if e.typ == "container" || e.typ == "image" {
        v["status"] = json!(e.action);
        v["id"] = json!(e.actor.id);
        if let Some(img) = e.actor.attributes.get("image") {
            v["from"] = json!(img);
        }
    }
    v
}

/// `GET /events`: what happened since `since` (if given), then what happens, until `until`
/// (forever without it); the berth CLI's changes included, as they share the log.
async fn events_stream(
    State(engine): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let time = |k: &str| -> ApiResult<Option<i64>> {
        match q.get(k).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(t) => berth_engine::human::parse_time(t)
                .map(|t| Some(t.timestamp_nanos_opt().unwrap_or(i64::MAX)))
                .map_err(ApiError::from),
        }
    };
    let since = time("since")?;
    let until = time("until")?;
    let mut filters = Vec::new();
    for (k, vals) in crate::containers::filters(&q)? {
        if !events::FILTER_KEYS.contains(&k.as_str()) {
            return Err(ApiError::invalid(format!("invalid filter '{k}'")));
        }
        filters.extend(vals.into_iter().map(|v| (k.clone(), v)));
    }
    let root = engine.root.clone();
    let (tail, past) = blocking(&engine, move |e| {
        let tail = events::Tail::new(&e.root);
        let past = match since {
            Some(s) => events::read_all(&e.root)
                .into_iter()
                .filter(|ev| ev.time_nano >= s && until.is_none_or(|u| ev.time_nano <= u))
                .collect(),
            None => Vec::new(),
        };
        Ok((tail, past))
    })
    .await?;
    let past: Vec<Event> = past
        .into_iter()
        .filter(|e| events::matches(e, &filters))
        .collect();
    let now_ns = || chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let state = (past.into_iter(), tail, Vec::<Event>::new().into_iter());
    let stream = futures_util::stream::unfold(state, move |(mut past, mut tail, mut batch)| {
        let filters = filters.clone();
        let root = root.clone();
        async move {
            if let Some(e) = past.next() {
                let line = event_json(&e).to_string() + "\n";
                return Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(line)),
                    (past, tail, batch),
                ));
            }
            loop {
                if let Some(e) = batch.next() {
                    if until.is_some_and(|u| e.time_nano > u) || !events::matches(&e, &filters) {
                        continue;
                    }
                    let line = event_json(&e).to_string() + "\n";
                    return Some((Ok(Bytes::from(line)), (past, tail, batch)));
                }
                if until.is_some_and(|u| now_ns() > u) {
                    return None;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let _ = &root;
                batch = tail.next_batch().into_iter();
            }
        }
    });
    Ok((
        [("Content-Type", "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /auth`: checks credentials against the registry, as `docker login` asks the daemon to.
async fn auth(State(engine): State<Shared>, Json(b): Json<Value>) -> ApiResult<Json<Value>> {
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (user, pass, server) = (s("username"), s("password"), s("serveraddress"));
    blocking(&engine, move |_| {
        let host = berth_engine::registry::login_host(Some(&server));
        let creds = berth_engine::registry::auth::Credentials {
            username: user,
            secret: pass,
        };
        berth_engine::registry::check_credentials(&host, &creds)
    })
    .await?;
    Ok(Json(
        json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

/// `GET /system/df`: images, containers and volumes with their sizes and users.
async fn df(State(engine): State<Shared>) -> ApiResult<Json<Value>> {
    blocking(&engine, |e| {
        let du = e.disk_usage();
        let mut images = Vec::new();
        for (id, size, shared, users) in &du.images {
            if let Ok(img) = e.images.get(id) {
                let mut v = crate::images::summary(e, &img, &e.images.config(&img.id)?);
                v["Size"] = json!(size);
                v["SharedSize"] = json!(shared);
                v["Containers"] = json!(users);
                images.push(v);
            }
        }
        let sizes: HashMap<&str, u64> = du.containers.iter().map(|c| (c.0.as_str(), c.1)).collect();
        let containers: Vec<Value> = e
            .list()
            .iter()
            .map(|(rec, st)| {
                let mut v = crate::containers::summary(e, rec, st);
                v["SizeRw"] = json!(sizes.get(rec.id.as_str()).copied().unwrap_or(0));
                v["SizeRootFs"] = json!(0);
                v
            })
            .collect();
        let mut volumes = Vec::new();
        for (name, size, users) in &du.volumes {
            if let Ok(vol) = e.volumes.get(name) {
                let mut v = serde_json::to_value(&vol).unwrap_or_default();
                v["UsageData"] = json!({"Size": size, "RefCount": users});
                volumes.push(v);
            }
        }
        Ok(Json(json!({
            "LayersSize": du.layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        })))
    })
    .await
}
