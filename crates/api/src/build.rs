//! `POST /build`: the classic builder's API (`DOCKER_BUILDKIT=0 docker build`, docker-py): the
//! context arrives as a tar (plain, gzip or zstd), the progress leaves as JSON lines.

use crate::fdio::piped_request;
use crate::{truthy, ApiError, ApiResult, QueryPairs, Shared};
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use berth_engine::build::{BuildRequest, DockerfileAt};
use berth_engine::reference::Reference;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::fd::FromRawFd;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
}

/// `POST /build/prune` (`docker builder prune`, `system prune`): the classic builder's cache is
/// its untagged step images, which `image prune` takes; there is no other cache to free.
async fn prune() -> axum::Json<Value> {
    axum::Json(json!({"CachesDeleted": [], "SpaceReclaimed": 0}))
}

/// Removes the unpacked context when the build is over, however it ends.
struct Cleanup(std::path::PathBuf);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A JSON object of strings in a query value (`buildargs`, `labels`); null values are skipped
/// (the client had nothing for them).
fn string_map(raw: Option<&String>, what: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: BTreeMap<String, Value> =
        serde_json::from_str(raw).map_err(|e| ApiError::invalid(format!("invalid {what}: {e}")))?;
    Ok(v.into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
        .collect())
}

/// A JSON list of strings (`cachefrom=["a","b"]`).
fn string_list(raw: &str, what: &str) -> ApiResult<Vec<String>> {
    serde_json::from_str(raw).map_err(|e| ApiError::invalid(format!("invalid {what}: {e}")))
}

async fn build(
    State(engine): State<Shared>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    // `t` may repeat.
    let q = QueryPairs::parse(raw.as_deref());
    let one = |k: &str| q.one(k);
    let tags = q
        .all("t")
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| Reference::parse(v).map_err(|e| ApiError::invalid(e.to_string())))
        .collect::<ApiResult<Vec<_>>>()?;
    if let Some(p) = one("platform").filter(|p| !p.is_empty()) {
        let host = format!("linux/{}", berth_engine::image::config::host_arch());
        if p != host {
            return Err(ApiError::invalid(format!(
                "platform {p}: only this host's platform ({host}) can be built"
            )));
        }
    }
    if one("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::invalid(
            "remote build contexts are not supported: send the context as a tar",
        ));
    }
    let quiet = truthy(one("q").as_ref());
    let dockerfile = one("dockerfile").filter(|d| !d.is_empty());
    let build_args = string_map(one("buildargs").as_ref(), "buildargs")?;
    let labels = string_map(one("labels").as_ref(), "labels")?;
    let target = one("target").filter(|t| !t.is_empty());
    let no_cache = truthy(one("nocache").as_ref());
    let pull = truthy(one("pull").as_ref());

    let dir = engine.root.temp_path("build-context");
    let cleanup = Cleanup(dir.clone());
    let d = dir.clone();
    piped_request(&engine, req.into_body(), move |_, fd| {
        std::fs::create_dir_all(&d)
            .map_err(|e| berth_engine::Error::internal(format!("build context: {e}")))?;
        // SAFETY: the pipe's read end, open for this call; ManuallyDrop leaves closing to it.
        let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        let plain = berth_engine::snapshot::unpack::decompress(std::io::BufReader::new(&*f))
            .map_err(|e| berth_engine::Error::invalid(format!("invalid build context: {e}")))?;
        berth_engine::snapshot::unpack::unpack_layer(plain, &d)
            .map_err(|e| berth_engine::Error::invalid(format!("invalid build context: {e}")))?;
        Ok(())
    })
    .await?;
    let request = BuildRequest {
        context: dir.clone(),
        dockerfile: dockerfile.map(DockerfileAt::Context),
        tags,
        build_args,
        target,
        no_cache,
        pull,
        labels,
        network_mode: one("networkmode").filter(|n| !n.is_empty() && n != "default"),
        extra_hosts: q
            .all("extrahosts")
            .iter()
            .flat_map(|h| h.split(',').filter(|x| !x.is_empty()).map(String::from))
            .collect(),
        cache_from: one("cachefrom")
            .map(|c| string_list(&c, "cachefrom"))
            .transpose()?
            .unwrap_or_default(),
        cancel: Some(Default::default()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let e = engine.clone();
    let _builder = crate::long_lived(move || {
        let _cleanup = cleanup;
        let line = |v: Value| Bytes::from(v.to_string() + "\r\n");
        let progress = tx.clone();
        let gone = request.cancel.clone().unwrap_or_default();
        let mut out = |s: &str| {
            // A client that closed the stream cancels the build (dockerd's).
            if !quiet
                && progress
                    .blocking_send(line(json!({ "stream": s })))
                    .is_err()
            {
                gone.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        };
        // As dockerd: the id goes out (as `aux`) before the closing "Successfully" lines.
        let aux = tx.clone();
        let mut built = |id: &str| {
            if !quiet {
                let _ = aux.blocking_send(line(json!({"aux": {"ID": id}})));
            }
        };
        let last = match e.build_reporting(&request, &mut out, &mut built) {
            // As dockerd: quiet builds answer with the id alone, as a stream line.
            Ok(id) if quiet => json!({ "stream": format!("{id}\n") }),
            Ok(_) => return,
            Err(err) => {
                // A failed RUN's exit code goes to the client, which exits with it (dockerd's).
                let code = err.command_code;
                let mut detail = json!({ "message": err.message });
                if let Some(c) = code {
                    detail["code"] = json!(c);
                }
                json!({"errorDetail": detail, "error": err.message})
            }
        };
        let _ = tx.blocking_send(line(last));
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|o| o.map(Ok::<_, std::convert::Infallible>))
    });
    Ok((
        [("Content-Type", "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
