//! A container's files: `archive` (HEAD/GET/PUT, what `docker cp` uses), `export`, `changes`.

use crate::fdio::{piped_body, piped_request};
use crate::{on_container, truthy, ApiError, ApiResult, Shared};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use berth_engine::snapshot::changes::Change;
use berth_engine::CopyEnd;
use berth_engine::ErrorKind;
use serde_json::{json, Value};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(archive_get).head(archive_head).put(archive_put),
        )
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
}

fn path_of(q: &HashMap<String, String>) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::invalid("path is required"))
}

/// The stat header `docker cp` reads: base64 of the JSON stat.
async fn stat_header(
    engine: &Shared,
    id: String,
    path: String,
) -> ApiResult<(String, HeaderValue)> {
    let name = id.clone();
    let (id, st) = on_container(engine, id, move |e, id| {
        // The container exists: a missing thing is the path, named as dockerd does, with
        // the container as the client called it.
        let st = e.path_stat(&id, &path).map_err(|err| match err.kind {
            ErrorKind::NotFound => berth_engine::Error::not_found(format!(
                "Could not find the file {path} in container {name}"
            )),
            _ => err,
        })?;
        Ok((id, st))
    })
    .await?;
    let json = serde_json::to_vec(&st).map_err(|e| ApiError::internal(e.to_string()))?;
    let v = base64::engine::general_purpose::STANDARD.encode(json);
    Ok((id, HeaderValue::from_str(&v).unwrap()))
}

async fn archive_head(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let (_, h) = stat_header(&engine, id, path_of(&q)?).await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert("X-Docker-Container-Path-Stat", h);
    Ok(r)
}

async fn archive_get(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let (id, h) = stat_header(&engine, id, path.clone()).await?;
    let body = piped_body(&engine, move |e, fd| {
        e.copy_from(&id, &path, CopyEnd::Tar(fd), false)
    })?;
    let mut r = ([("Content-Type", "application/x-tar")], body).into_response();
    r.headers_mut().insert("X-Docker-Container-Path-Stat", h);
    Ok(r)
}

async fn archive_put(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
    req: Request,
) -> ApiResult<StatusCode> {
    let path = path_of(&q)?;
    let keep_owner = truthy(q.get("copyUIDGID"));
    let id = on_container(&engine, id, |_, id| Ok(id)).await?;
    piped_request(&engine, req.into_body(), move |e, fd| {
        e.copy_to(&id, CopyEnd::Tar(fd), &path, keep_owner)
    })
    .await?;
    Ok(StatusCode::OK)
}

async fn export(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = on_container(&engine, id, |_, id| Ok(id)).await?;
    let body = piped_body(&engine, move |e, fd| e.export(&id, fd))?;
    Ok(([("Content-Type", "application/x-tar")], body).into_response())
}

async fn changes(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let list = on_container(&engine, id, |e, id| e.diff(&id)).await?;
    let out: Vec<Value> = list
        .into_iter()
        .map(|(kind, path)| {
            let k = match kind {
                Change::Changed => 0,
                Change::Added => 1,
                Change::Deleted => 2,
            };
            json!({"Path": path, "Kind": k})
        })
        .collect();
    Ok(Json(Value::Array(out)))
}
