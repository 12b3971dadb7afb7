//! Swarm's routes, answered as a dockerd that is not part of a swarm: berth runs no swarm, and
//! clients probe these (docker-py leaves any swarm in its tests' teardown; `docker info` and
//! compose look at `/swarm`).

use crate::{ApiError, ApiResult, Shared};
use axum::routing::{get, post};
use axum::Router;

/// dockerd's answer to a manager-only route on a node outside a swarm.
const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

pub fn routes() -> Router<Shared> {
    let manager_only = || get(not_manager).post(not_manager).delete(not_manager);
    Router::new()
        .route("/swarm", get(not_manager))
        .route("/swarm/leave", post(not_in_swarm))
        .route("/swarm/init", post(unsupported))
        .route("/swarm/join", post(unsupported))
        .route("/swarm/update", post(not_manager))
        .route("/swarm/unlockkey", get(not_manager))
        .route("/swarm/unlock", post(not_manager))
        .route("/nodes", manager_only())
        .route("/nodes/{id}", manager_only())
        .route("/nodes/{id}/update", post(not_manager))
        .route("/services", manager_only())
        .route("/services/create", post(not_manager))
        .route("/services/{id}", manager_only())
        .route("/services/{id}/update", post(not_manager))
        .route("/services/{id}/logs", get(not_manager))
        .route("/tasks", manager_only())
        .route("/tasks/{id}", manager_only())
        .route("/secrets", manager_only())
        .route("/secrets/create", post(not_manager))
        .route("/secrets/{id}", manager_only())
        .route("/secrets/{id}/update", post(not_manager))
        .route("/configs", manager_only())
        .route("/configs/create", post(not_manager))
        .route("/configs/{id}", manager_only())
        .route("/configs/{id}/update", post(not_manager))
}

async fn not_manager() -> ApiResult<()> {
    Err(ApiError::unavailable(NOT_MANAGER))
}

async fn not_in_swarm() -> ApiResult<()> {
    Err(ApiError::unavailable("This node is not part of a swarm"))
}

async fn unsupported() -> ApiResult<()> {
    Err(ApiError::unavailable(
        "swarm mode is not supported by berth: it runs containers on this host only",
    ))
}
