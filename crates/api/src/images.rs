//! `/images/…`: list, inspect, delete, tag, and create (= pull, with JSON progress lines).

use crate::{blocking, truthy, unix_time, ApiError, ApiResult, Shared};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::reference::Reference;
use berth_engine::registry::pull::PullEvent;
use berth_engine::registry::PullOptions;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/{*rest}", get(by_name).delete(remove).post(tag))
}

async fn list(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    let all = truthy(q.get("all"));
    blocking(&engine, move |e| {
        let mut out = Vec::new();
        for img in e.images.list() {
            if img.intermediate && !all {
                continue;
            }
            let cfg = e.images.config(&img.id)?;
            let (tags, digests) = e.repo_tags_and_digests(&img.id);
            let size = e.images.size(&img);
            out.push(json!({
                "Id": img.id,
                "ParentId": "",
                "RepoTags": tags,
                "RepoDigests": digests,
                "Created": unix_time(cfg.created.as_deref().unwrap_or("")),
                "Size": size,
                "SharedSize": -1,
                "VirtualSize": size,
                "Labels": cfg.config.labels.clone().unwrap_or_default(),
                "Containers": -1,
            }));
        }
        out.sort_by(|a, b| b["Created"].as_i64().cmp(&a["Created"].as_i64()));
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// `GET /images/{name}/json` and `/images/{name}/history`: names may contain slashes.
async fn by_name(State(engine): State<Shared>, Path(rest): Path<String>) -> ApiResult<Json<Value>> {
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(ApiError::new(
            404,
            format!("page not found: /images/{rest}"),
        ));
    };
    let name = name.to_string();
    blocking(&engine, move |e| {
        let img = e
            .image(&name)
            .map_err(|_| berth_engine::Error::not_found(format!("No such image: {name}")))?;
        let cfg = e.images.config(&img.id)?;
        Ok(Json(e.inspect_image(&img, &cfg)))
    })
    .await
}

async fn remove(
    State(engine): State<Shared>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Json<Value>> {
    let force = truthy(q.get("force"));
    blocking(&engine, move |e| {
        let lines = e.remove_image(&name, force)?;
        let out: Vec<Value> = lines
            .iter()
            .map(|l| match l.split_once(": ") {
                Some(("Untagged", r)) => json!({"Untagged": r}),
                Some(("Deleted", r)) => json!({"Deleted": r}),
                _ => json!({}),
            })
            .collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// `POST /images/{name}/tag?repo=&tag=`.
async fn tag(
    State(engine): State<Shared>,
    Path(rest): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(ApiError::new(
            404,
            format!("page not found: /images/{rest}"),
        ));
    };
    let name = name.to_string();
    let repo = q.get("repo").cloned().unwrap_or_default();
    let t = q
        .get("tag")
        .filter(|t| !t.is_empty())
        .cloned()
        .unwrap_or_else(|| "latest".into());
    blocking(&engine, move |e| {
        let img = e.image(&name)?;
        let r = Reference::parse(&format!("{repo}:{t}"))
            .map_err(|err| berth_engine::Error::invalid(err.to_string()))?;
        e.images.tag(&img.id, &r)?;
        Ok(StatusCode::CREATED)
    })
    .await
}

/// `POST /images/create?fromImage=&tag=`: a pull, answered with Docker's JSON progress lines.
async fn create(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Response> {
    let Some(from) = q.get("fromImage").cloned() else {
        return Err(ApiError::new(
            400,
            "import from a source is not supported yet; use fromImage",
        ));
    };
    let tag = q.get("tag").cloned().unwrap_or_default();
    let name = if tag.is_empty() {
        from
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let platform = q.get("platform").filter(|p| !p.is_empty()).cloned();
    let lines = blocking(&engine, move |e| {
        let r = Reference::parse(&name).map_err(|err| berth_engine::Error::invalid(err.to_string()))?;
        let out = Mutex::new(Vec::<Value>::new());
        let res = e.pull(&r, &PullOptions { platform }, &|ev| {
            let v = match ev {
                PullEvent::Status(s) => json!({"status": s}),
                PullEvent::Layer { id, status, progress } => match progress {
                    Some((n, t)) => json!({"status": status, "id": id, "progressDetail": {"current": n, "total": t}}),
                    None => json!({"status": status, "id": id, "progressDetail": {}}),
                },
            };
            out.lock().unwrap().push(v);
        });
        // Before anything was sent the status code carries the error, as dockerd does.
        res?;
        Ok(out.into_inner().unwrap())
    })
    .await?;
    let mut body = String::new();
    for l in lines {
        body.push_str(&l.to_string());
        body.push_str("\r\n");
    }
    Ok(([("Content-Type", "application/json")], body).into_response())
}
