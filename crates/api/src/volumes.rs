//! `/volumes`: list, create, inspect, remove, prune (the local driver).

use crate::{blocking, truthy, ApiResult, Shared};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn list(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    let pairs = crate::containers::filter_pairs(&q)?;
    blocking(&engine, move |e| {
        let out: Vec<Value> = e
            .list_volumes(&pairs)?
            .iter()
            .map(|v| serde_json::to_value(v).unwrap_or_default())
            .collect();
        Ok(Json(json!({"Volumes": out, "Warnings": []})))
    })
    .await
}

/// `POST /volumes/create`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

async fn create(
    State(engine): State<Shared>,
    Json(b): Json<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = blocking(&engine, move |e| {
        let name = Some(b.name.as_str()).filter(|n| !n.is_empty());
        e.create_volume(
            name,
            &b.driver,
            b.labels.unwrap_or_default(),
            b.driver_opts.unwrap_or_default(),
        )
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(&v).unwrap_or_default()),
    ))
}

async fn inspect(State(engine): State<Shared>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let v = blocking(&engine, move |e| e.volumes.get(&name)).await?;
    Ok(Json(serde_json::to_value(&v).unwrap_or_default()))
}

async fn remove(
    State(engine): State<Shared>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let force = truthy(q.get("force"));
    blocking(&engine, move |e| e.remove_volume(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    // API 1.42+: only anonymous volumes unless the filter says all=true.
    let all = crate::containers::filters(&q)?
        .get("all")
        .is_some_and(|v| v.iter().any(|x| truthy(Some(x))));
    let (removed, bytes) = blocking(&engine, move |e| Ok(e.prune_volumes(all))).await?;
    Ok(Json(
        json!({"VolumesDeleted": removed, "SpaceReclaimed": bytes}),
    ))
}
