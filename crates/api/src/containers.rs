//! `/containers/…`: list, create, inspect, start, stop, restart, kill, wait, delete, logs.

use crate::{blocking, on_container, strip_nulls, truthy, unix_time, ApiError, ApiResult, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use berth_engine::container::{status_text, HostConfig, Status};
use berth_engine::image::ContainerConfig;
use berth_engine::CreateRequest;
use serde_json::{json, Value};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(crate::attach::attach))
        .route("/containers/{id}/resize", post(crate::attach::resize))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/{alias}", delete(remove_link))
}

/// The `filters` query as the (key, value) pairs the engine's list rules read.
pub(crate) fn filter_pairs(q: &HashMap<String, String>) -> ApiResult<Vec<(String, String)>> {
    Ok(filters(q)?
        .into_iter()
        .flat_map(|(k, vals)| vals.into_iter().map(move |v| (k.clone(), v)))
        .collect())
}

/// Docker's `filters` query: `{"status":["running"],"name":{"web":true}}` (both shapes).
pub fn filters(q: &HashMap<String, String>) -> ApiResult<HashMap<String, Vec<String>>> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: Value =
        serde_json::from_str(raw).map_err(|e| ApiError::invalid(format!("invalid filter: {e}")))?;
    let mut out = HashMap::new();
    if let Some(m) = v.as_object() {
        for (k, vals) in m {
            let list: Vec<String> = match vals {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                Value::Object(o) => o.keys().cloned().collect(),
                _ => vec![],
            };
            out.insert(k.clone(), list);
        }
    }
    Ok(out)
}

async fn list(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    let all = truthy(q.get("all"));
    let limit: Option<usize> = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0);
    let query = berth_engine::container::filter::ListQuery {
        all,
        last: limit,
        filters: filters(&q)?
            .into_iter()
            .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
            .collect(),
    };
    blocking(&engine, move |e| {
        let out: Vec<Value> = e
            .list_containers(&query)?
            .iter()
            .map(|(rec, st)| summary(e, rec, st))
            .collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// A container as `GET /containers/json` (and `/system/df`) lists it.
pub(crate) fn summary(
    e: &berth_engine::Engine,
    rec: &berth_engine::container::ContainerRecord,
    st: &berth_engine::container::State,
) -> Value {
    let ports: Vec<Value> = e
        .network_attachment(&rec.id)
        .map(|a| a.ports)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            json!({"IP": if p.host_ip.is_empty() { "0.0.0.0" } else { &p.host_ip },
                   "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto})
        })
        .collect();
    let networks = e.network_settings(rec)["Networks"].clone();
    let command = std::iter::once(rec.path.clone())
        .chain(rec.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "Id": rec.id,
        "Names": [format!("/{}", rec.name)],
        "Image": rec.config.image,
        "ImageID": rec.image,
        "Command": command,
        "Created": unix_time(&rec.created),
        "Ports": ports,
        "Labels": rec.config.labels.clone().unwrap_or_default(),
        "State": st.status.as_str(),
        "Status": status_text(st),
        "HostConfig": {"NetworkMode": if rec.host_config.network_mode.is_empty() { "default" } else { rec.host_config.network_mode.as_str() }},
        "NetworkSettings": {"Networks": networks},
        "Mounts": rec.mounts.iter().map(|m| json!({
            "Type": m.typ, "Name": m.name, "Source": m.source, "Destination": m.destination,
            "RW": m.rw, "Propagation": m.propagation,
        })).collect::<Vec<_>>(),
    })
}

async fn create(State(engine): State<Shared>, Query(q): Q, body: Bytes) -> ApiResult<Response> {
    let name = q.get("name").filter(|n| !n.is_empty()).cloned();
    let req = create_request(&body, name)?;
    let id = blocking(&engine, move |e| e.create(req)).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warnings": []}))).into_response())
}

/// Reads the body of `POST /containers/create` (Docker's container config with `HostConfig`
/// and `NetworkingConfig`) into the engine's request for a container named `name`.
pub fn create_request(body: &[u8], name: Option<String>) -> ApiResult<CreateRequest> {
    let mut v: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?
    };
    strip_nulls(&mut v);
    // `--mount` through the API: Docker's Mount objects, checked by the engine as the CLI's.
    let v_mounts: Vec<Value> = v["HostConfig"]["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(h) = v.get_mut("HostConfig").and_then(Value::as_object_mut) {
        h.remove("Mounts");
    }
    let host_config: HostConfig = match v.get("HostConfig") {
        Some(h) => serde_json::from_value(h.clone())
            .map_err(|e| ApiError::invalid(format!("invalid HostConfig: {e}")))?,
        None => HostConfig::default(),
    };
    let image = v["Image"].as_str().unwrap_or("").to_string();
    if image.is_empty() {
        return Err(ApiError::invalid(
            "config cannot be empty in order to create a container",
        ));
    }
    let mut host_config = host_config;
    // The endpoint settings: the network mode's (--ip, --mac-address, aliases), and further
    // networks to join (API 1.44+). A single one applies to the network mode whatever network
    // it names, as dockerd does for clients that name another.
    if let Some(eps) = v["NetworkingConfig"]["EndpointsConfig"].as_object() {
        let mode = host_config.network_mode.clone();
        let names_mode =
            |k: &str| k == mode || (matches!(mode.as_str(), "" | "default") && k == "bridge");
        for (k, ep) in eps {
            let (aliases, ip, endpoint) = endpoint_settings(ep);
            if eps.len() == 1 || names_mode(k) {
                if let Some(ip) = ip {
                    host_config.ipv4_address = Some(ip);
                }
                if let Some(mac) = &endpoint.mac_address {
                    host_config.mac_address = Some(mac.clone());
                }
                if !aliases.is_empty() {
                    host_config.aliases = Some(aliases);
                }
                host_config.endpoint = Some(endpoint);
            } else {
                host_config
                    .extra_networks
                    .get_or_insert_with(Vec::new)
                    .push(berth_engine::container::ExtraNetwork {
                        name: k.clone(),
                        aliases,
                        ip,
                        endpoint: Some(endpoint),
                    });
            }
        }
    }
    // API versions before 1.44 send --mac-address in the container's config.
    if let Some(mac) = v["MacAddress"].as_str().filter(|m| !m.is_empty()) {
        host_config
            .mac_address
            .get_or_insert_with(|| mac.to_string());
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("HostConfig");
        o.remove("NetworkingConfig");
    }
    let config: ContainerConfig = serde_json::from_value(v)
        .map_err(|e| ApiError::invalid(format!("invalid container config: {e}")))?;
    let mounts = v_mounts
        .iter()
        .map(|m| mount_fields(m).into_request(&m.to_string()))
        .collect::<berth_engine::Result<Vec<_>>>()?;
    Ok(CreateRequest {
        name,
        image,
        config,
        host_config,
        mounts,
        build_step: false,
    })
}

async fn inspect(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    on_container(&engine, id, move |e, id| {
        let rec = e.record(&id)?;
        let st = e.state(&id)?;
        Ok(Json(e.inspect_container(&rec, &st)))
    })
    .await
}

async fn start(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    on_container(&engine, id, move |e, id| {
        if e.state(&id)?.status == Status::Running {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        // A client that attached before the start gets the container's first output.
        e.start_sized(&id, crate::attach::take_pending(&id), None)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

fn timeout(q: &HashMap<String, String>) -> Option<i64> {
    q.get("t").or(q.get("timeout")).and_then(|t| t.parse().ok())
}

async fn stop(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let t = timeout(&q);
    on_container(&engine, id, move |e, id| {
        // Paused and restarting containers are stopped too (their restart loop ends).
        if !e.state(&id)?.status.is_live() {
            return Ok(StatusCode::NOT_MODIFIED);
        }
        e.stop(&id, t)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn restart(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let t = timeout(&q);
    on_container(&engine, id, move |e, id| {
        e.restart(&id, t)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn kill(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let sig = q.get("signal").cloned().unwrap_or_else(|| "KILL".into());
    on_container(&engine, id, move |e, id| {
        let n = berth_engine::signal::parse(&sig)?;
        e.kill(&id, n)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn wait(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let condition = q
        .get("condition")
        .cloned()
        .unwrap_or_else(|| "not-running".into());
    let id = blocking(&engine, move |e| e.resolve(&id)).await?;
    let condition = berth_engine::WaitCondition::parse(&condition)?;
    // The headers go out at once, as dockerd's do: the docker CLI starts the container only
    // after it has them, and the status follows in the body when the container stops.
    let e = engine.clone();
    let rx = crate::long_lived(move || -> Value {
        match e.wait_for(&id, condition) {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(err) => json!({"StatusCode": -1, "Error": {"Message": err.message}}),
        }
    });
    let body = futures_util::stream::once(async move {
        let v = rx
            .await
            .unwrap_or_else(|e| json!({"StatusCode": -1, "Error": {"Message": e.message}}));
        Ok::<_, std::convert::Infallible>(Bytes::from(v.to_string() + "\n"))
    });
    Ok((
        [("Content-Type", "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

async fn remove(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let force = truthy(q.get("force"));
    let volumes = truthy(q.get("v"));
    on_container(&engine, id, move |e, id| {
        e.remove(&id, force, volumes)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `DELETE /containers/{name}/{alias}?link=1`: the legacy link `alias` of container `name`
/// goes; both containers stay.
async fn remove_link(
    State(engine): State<Shared>,
    Path((id, alias)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    if !truthy(q.get("link")) {
        return Err(ApiError::not_found(format!(
            "No such container: {id}/{alias}"
        )));
    }
    on_container(&engine, id, move |e, id| {
        e.remove_link(&id, &alias)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// One of Docker's EndpointSettings: its aliases, IPv4 address and the rest the engine keeps.
pub fn endpoint_settings(
    ep: &Value,
) -> (
    Vec<String>,
    Option<String>,
    berth_engine::container::EndpointConfig,
) {
    let aliases = berth_engine::store::json_strings(&ep["Aliases"]);
    let ip = ep["IPAMConfig"]["IPv4Address"]
        .as_str()
        .filter(|ip| !ip.is_empty())
        .map(String::from);
    let endpoint = berth_engine::container::EndpointConfig {
        ipam_config: Some(ep["IPAMConfig"].clone()).filter(|v| v.is_object()),
        links: Some(berth_engine::store::json_strings(&ep["Links"])).filter(|l| !l.is_empty()),
        driver_opts: ep["DriverOpts"].as_object().map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        }),
        mac_address: ep["MacAddress"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(String::from),
    };
    (aliases, ip, endpoint)
}

/// The engine's fields of one of Docker's Mount objects (`Type`, `Source`, `Target`,
/// `ReadOnly`, `VolumeOptions`, `BindOptions`, `TmpfsOptions`).
fn mount_fields(m: &Value) -> berth_engine::container::mounts::MountFields {
    let s = |v: &Value| v.as_str().map(String::from);
    berth_engine::container::mounts::MountFields {
        typ: s(&m["Type"]).unwrap_or_else(|| "volume".into()),
        source: s(&m["Source"]),
        target: s(&m["Target"]),
        readonly: m["ReadOnly"].as_bool().unwrap_or(false),
        nocopy: m["VolumeOptions"]["NoCopy"].as_bool().unwrap_or(false),
        propagation: s(&m["BindOptions"]["Propagation"]).unwrap_or_default(),
        volume_options: m["VolumeOptions"]["DriverConfig"]["Options"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        tmpfs_size: m["TmpfsOptions"]["SizeBytes"].as_i64(),
        tmpfs_mode: m["TmpfsOptions"]["Mode"]
            .as_u64()
            .map(|md| format!("{md:o}")),
    }
}

/// One frame of Docker's stdcopy multiplexing: stream byte, three zeros, big-endian length.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

async fn logs(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let want_out = truthy(q.get("stdout"));
    let want_err = truthy(q.get("stderr"));
    let stamps = truthy(q.get("timestamps"));
    let time = |k: &str| -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
        match q.get(k).map(String::as_str) {
            None | Some("") | Some("0") => Ok(None),
            Some(t) => berth_engine::human::parse_time(t)
                .map(Some)
                .map_err(ApiError::from),
        }
    };
    let query = berth_engine::LogQuery {
        since: time("since")?,
        until: time("until")?,
        tail: q.get("tail").and_then(|t| t.parse().ok()),
        follow: truthy(q.get("follow")),
    };
    let (id, tty, log) = on_container(&engine, id, |e, id| {
        // Refused before the answer starts; after that, the headers go out at once (dockerd's),
        // even when no entry has come yet: clients inspect the container as soon as they have them.
        // The log is opened now: a container removed before the reader runs still gives
        // every line it wrote (docker-py's run reads its followed logs after the removal).
        let log = e.open_logs(&id)?;
        let tty = e.record(&id)?.config.tty;
        Ok((id, tty, log))
    })
    .await?;
    // The engine reads (and follows) on a thread of its own; the entries come through a channel
    // whose closing (the client went away) stops it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let e = engine.clone();
    let _reader = crate::long_lived(move || {
        let r = e.logs_from(&id, log, &query, |l| {
            if !((l.stream == "stdout" && want_out) || (l.stream == "stderr" && want_err)) {
                return true;
            }
            let text = if stamps {
                format!("{} {}", berth_engine::logs::timestamp(l), l.log)
            } else {
                l.log.clone()
            };
            let data = if tty {
                text.into_bytes()
            } else {
                frame(if l.stream == "stderr" { 2 } else { 1 }, text.as_bytes())
            };
            tx.blocking_send(Bytes::from(data)).is_ok()
        });
        if let Err(err) = r {
            eprintln!("berth daemon: logs of {id}: {err}");
        }
    });
    // Each entry goes out as soon as it is read: a followed log's lines must not wait for the
    // next one.
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let b = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(b), rx))
    });
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok((
        [("Content-Type", ctype)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

async fn rename(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let new = q
        .get("name")
        .cloned()
        .ok_or_else(|| ApiError::invalid("name is required"))?;
    on_container(&engine, id, move |e, id| e.rename(&id, &new)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(engine): State<Shared>) -> ApiResult<Json<Value>> {
    let (ids, bytes) = blocking(&engine, |e| e.prune_containers()).await?;
    Ok(Json(
        json!({"ContainersDeleted": ids, "SpaceReclaimed": bytes}),
    ))
}
