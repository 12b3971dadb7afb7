//! A running container's processes and resources: `top`, `stats`, `update`, `pause`, `unpause`.

use crate::{on_container, truthy, ApiError, ApiResult, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::container::RestartPolicy;
use berth_engine::{ContainerStats, UpdateRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
}

async fn top(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Json<Value>> {
    let args: Vec<String> = q
        .get("ps_args")
        .map(|a| a.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let (titles, rows) = on_container(&engine, id, move |e, id| e.top(&id, &args)).await?;
    Ok(Json(json!({"Titles": titles, "Processes": rows})))
}

async fn pause(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    on_container(&engine, id, |e, id| e.pause(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    on_container(&engine, id, |e, id| e.unpause(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/update`'s body: zero or empty means "leave as it is", as dockerd reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    memory: i64,
    memory_swap: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    pids_limit: Option<i64>,
    cpuset_cpus: String,
    cpuset_mems: String,
    blkio_weight: u16,
    restart_policy: Option<RestartPolicy>,
}

async fn update(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Json(b): Json<UpdateBody>,
) -> ApiResult<Json<Value>> {
    let nz = |v: i64| (v != 0).then_some(v);
    let req = UpdateRequest {
        memory: nz(b.memory),
        memory_swap: nz(b.memory_swap),
        nano_cpus: nz(b.nano_cpus),
        cpu_shares: nz(b.cpu_shares),
        pids_limit: b.pids_limit.filter(|p| *p != 0),
        restart_policy: b.restart_policy.filter(|r| !r.name.is_empty()),
        cpuset_cpus: Some(b.cpuset_cpus).filter(|c| !c.is_empty()),
        cpuset_mems: Some(b.cpuset_mems).filter(|c| !c.is_empty()),
        blkio_weight: (b.blkio_weight != 0).then_some(b.blkio_weight),
    };
    on_container(&engine, id, move |e, id| e.update(&id, &req)).await?;
    Ok(Json(json!({"Warnings": []})))
}

/// Docker's stats JSON for one sample, with the previous one as `precpu_stats`.
fn stats_json(id: &str, name: &str, now: &ContainerStats, pre: &ContainerStats) -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let at = chrono::Utc::now();
    let pre_at = at - chrono::Duration::from_std(now.at.duration_since(pre.at)).unwrap_or_default();
    let cpu = |s: &ContainerStats| {
        json!({
            "cpu_usage": {"total_usage": s.cgroup.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": s.system_ns,
            "online_cpus": cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        })
    };
    let c = &now.cgroup;
    json!({
        "id": id,
        "name": format!("/{name}"),
        "read": at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "preread": pre_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "pids_stats": {"current": c.pids},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": c.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": c.block_write},
        ]},
        "num_procs": 0,
        "cpu_stats": cpu(now),
        "precpu_stats": cpu(pre),
        // Usage already leaves out the page cache that can be dropped, so no cache fields.
        "memory_stats": {"usage": c.memory, "limit": c.memory_limit.min(berth_engine::host_memory()), "stats": {}},
        "networks": {"eth0": {"rx_bytes": now.net_rx, "tx_bytes": now.net_tx,
            "rx_packets": 0, "tx_packets": 0, "rx_errors": 0, "tx_errors": 0,
            "rx_dropped": 0, "tx_dropped": 0}},
    })
}

/// `GET /containers/{id}/stats`: a sample a second while `stream` (the default), else one; the
/// first comes after 0.2 s so its CPU figure has a span to measure (dockerd waits 1-2 s).
async fn stats(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let stream = q.get("stream").is_none_or(|s| truthy(Some(s)));
    let one_shot = truthy(q.get("one-shot"));
    let (id, name, first) = on_container(&engine, id, |e, id| {
        let rec = e.record(&id)?;
        let s = e.stats(&id)?;
        Ok((id, rec.name, s))
    })
    .await?;
    let sample = {
        let engine = engine.clone();
        move |id: String| {
            let engine = engine.clone();
            async move {
                tokio::task::spawn_blocking(move || engine.stats(&id))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .map_err(ApiError::from)
            }
        }
    };
    if !stream {
        let (pre, now) = if one_shot {
            (ContainerStats::default(), first)
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = sample(id.clone()).await?;
            (first, now)
        };
        return Ok(Json(stats_json(&id, &name, &now, &pre)).into_response());
    }
    let body = futures_util::stream::unfold((first, true), move |(pre, first_round)| {
        let sample = sample.clone();
        let (id, name) = (id.clone(), name.clone());
        async move {
            tokio::time::sleep(if first_round {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(1)
            })
            .await;
            let now = sample(id.clone()).await.ok()?;
            let line = stats_json(&id, &name, &now, &pre).to_string() + "\n";
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(line)),
                (now, false),
            ))
        }
    });
    Ok((
        [("Content-Type", "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}
