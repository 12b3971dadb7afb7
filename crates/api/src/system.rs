//! `/_ping`, `/version`, `/info`.

use crate::{blocking, ApiResult, Shared};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
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
