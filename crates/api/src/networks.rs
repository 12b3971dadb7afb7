//! `/networks`: list, inspect, create, remove, prune (bridge networks; `host` and `none` are
//! there as Docker's are).

use crate::{blocking, ApiResult, Shared};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::network::CreateNetwork;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(connect))
}

async fn list(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    let pairs = crate::containers::filter_pairs(&q)?;
    blocking(&engine, move |e| {
        let out: Vec<Value> = e
            .list_networks(&pairs)?
            .iter()
            .map(|n| e.inspect_network(n))
            .collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

async fn inspect(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    blocking(&engine, move |e| {
        let net = e.networks.get(&id)?;
        Ok(Json(e.inspect_network(&net)))
    })
    .await
}

/// `POST /networks/create`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<Value>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    check_duplicate: bool,
}

async fn create(
    State(engine): State<Shared>,
    Json(b): Json<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let _ = b.check_duplicate;
    let configs = b
        .ipam
        .as_ref()
        .and_then(|i| i["Config"].as_array())
        .cloned()
        .unwrap_or_default();
    // An IPv6 pool beside the IPv4 one is refused by the engine, not silently dropped.
    let cfg = configs
        .iter()
        .find(|c| c["Subnet"].as_str().is_some_and(|s| s.contains(':')))
        .or(configs.first())
        .cloned()
        .unwrap_or_default();
    let s = |k: &str| {
        cfg.get(k)
            .and_then(Value::as_str)
            .filter(|x| !x.is_empty())
            .map(String::from)
    };
    let req = CreateNetwork {
        name: b.name,
        driver: b.driver,
        subnet: s("Subnet"),
        gateway: s("Gateway"),
        ip_range: s("IPRange"),
        aux_addresses: cfg
            .get("AuxiliaryAddresses")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        internal: b.internal,
        options: b.options.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
        ipv6: b.enable_ipv6.unwrap_or(false),
    };
    let net = blocking(&engine, move |e| e.create_network(&req)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": net.id, "Warning": ""})),
    ))
}

async fn remove(State(engine): State<Shared>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    blocking(&engine, move |e| e.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(engine): State<Shared>) -> ApiResult<Json<Value>> {
    let removed = blocking(&engine, |e| e.prune_networks()).await?;
    Ok(Json(json!({ "NetworksDeleted": removed })))
}

/// `POST /networks/{id}/connect` and `/disconnect` with `{"Container": …}`.
async fn connect(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    Json(b): Json<Value>,
) -> ApiResult<StatusCode> {
    let container = b["Container"].as_str().unwrap_or("").to_string();
    let disconnect = uri.path().ends_with("/disconnect");
    let (aliases, ip, endpoint) = crate::containers::endpoint_settings(&b["EndpointConfig"]);
    blocking(&engine, move |e| {
        if disconnect {
            e.disconnect_network(&container, &id)
        } else {
            e.connect_network_ip(&container, &id, &aliases, ip.as_deref(), Some(endpoint))
        }
    })
    .await?;
    Ok(StatusCode::OK)
}
