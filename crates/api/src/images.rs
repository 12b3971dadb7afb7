//! `/images/…`: list, inspect, history, delete, tag, create (pull or import), push, save,
//! load, prune.

use crate::fdio::{piped_body, piped_request};
use crate::{blocking, truthy, unix_time, ApiError, ApiResult, QueryPairs, Shared};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::reference::Reference;
use berth_engine::registry::auth::Credentials;
use berth_engine::registry::pull::PullEvent;
use berth_engine::registry::PullOptions;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::fd::FromRawFd;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route("/images/prune", post(prune))
        .route("/images/search", get(search))
        .route("/commit", post(commit))
        .route(
            "/images/{*rest}",
            get(by_name).delete(remove).post(by_name_post),
        )
}

async fn list(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    let all = truthy(q.get("all"));
    let pairs = crate::containers::filter_pairs(&q)?;
    blocking(&engine, move |e| {
        let out: Vec<Value> = e
            .list_images(all, &pairs)?
            .iter()
            .map(|i| {
                let mut s = summary(e, &i.record, &i.config);
                // Only the names that pass a reference filter are listed, as dockerd does.
                let tags: Vec<String> = i.tags.iter().map(|(r, t)| format!("{r}:{t}")).collect();
                s["RepoTags"] = json!(tags);
                s
            })
            .collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`: a container's
/// changes as a new image (`docker commit`).
async fn commit(
    State(engine): State<Shared>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let q = QueryPairs::parse(raw.as_deref());
    let one = |k: &str| q.one(k).filter(|v| !v.is_empty());
    let container =
        one("container").ok_or_else(|| ApiError::invalid("a container is needed to commit"))?;
    let reference = match one("repo") {
        Some(repo) => {
            let full = match one("tag") {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            Some(Reference::parse(&full).map_err(|e| ApiError::invalid(e.to_string()))?)
        }
        None => None,
    };
    let changes = q.changes();
    let req = berth_engine::CommitRequest {
        reference,
        message: one("comment"),
        author: one("author"),
        changes,
        pause: one("pause").is_none_or(|p| p != "0" && p != "false"),
    };
    let id = blocking(&engine, move |e| {
        let id = e.resolve(&container)?;
        e.commit(&id, &req)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))))
}

/// An image as `GET /images/json` (and `/system/df`) lists it.
pub(crate) fn summary(
    e: &berth_engine::Engine,
    img: &berth_engine::image::ImageRecord,
    cfg: &berth_engine::image::ImageConfig,
) -> Value {
    let (tags, digests) = e.repo_tags_and_digests(&img.id);
    let size = e.images.size(img);
    json!({
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
    })
}

/// `GET /images/{name}/json`, `/history`, `/get`: names may contain slashes.
async fn by_name(State(engine): State<Shared>, Path(rest): Path<String>) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/history") {
        return history(engine, name.to_string())
            .await
            .map(IntoResponse::into_response);
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(engine, vec![name.to_string()]).await;
    }
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        )));
    };
    let name = name.to_string();
    blocking(&engine, move |e| {
        let img = e
            .image(&name)
            .map_err(|_| berth_engine::Error::not_found(format!("No such image: {name}")))?;
        let cfg = e.images.config(&img.id)?;
        Ok(Json(e.inspect_image(&img, &cfg)).into_response())
    })
    .await
}

/// `POST /images/{name}/tag` and `/push`.
async fn by_name_post(
    State(engine): State<Shared>,
    Path(rest): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/push") {
        return push(engine, name.to_string(), &q, &headers).await;
    }
    tag(engine, rest, q).await.map(IntoResponse::into_response)
}

/// `GET /images/search`: there is no index to search here.
async fn search() -> ApiError {
    ApiError::new(
        berth_engine::ErrorKind::NotImplemented,
        "search is not supported by berth: browse the registry instead",
    )
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
async fn tag(engine: Shared, rest: String, q: HashMap<String, String>) -> ApiResult<StatusCode> {
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        )));
    };
    let name = name.to_string();
    let repo = q.get("repo").cloned().unwrap_or_default();
    let t = q
        .get("tag")
        .filter(|t| !t.is_empty())
        .cloned()
        .unwrap_or_else(|| "latest".into());
    blocking(&engine, move |e| {
        e.tag_image(&name, &Reference::parse(&format!("{repo}:{t}"))?)?;
        Ok(StatusCode::CREATED)
    })
    .await
}

/// The `X-Registry-Auth` header: base64url JSON with a user and password or an identity token;
/// None when absent or empty (then the daemon's stored credentials apply).
fn registry_auth(headers: &HeaderMap) -> Option<Credentials> {
    use base64::Engine as _;
    let raw = headers.get("X-Registry-Auth")?.to_str().ok()?.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if !s("identitytoken").is_empty() {
        return Some(Credentials {
            username: "<token>".into(),
            secret: s("identitytoken"),
        });
    }
    (!s("username").is_empty()).then(|| Credentials {
        username: s("username"),
        secret: s("password"),
    })
}

/// Docker's JSON progress line for a pull or push event.
fn progress_json(ev: PullEvent) -> Value {
    match ev {
        PullEvent::Status(s) => json!({ "status": s }),
        PullEvent::Layer {
            id,
            status,
            progress,
        } => match progress {
            Some((n, t)) => {
                json!({"status": status, "id": id, "progressDetail": {"current": n, "total": t}})
            }
            None => json!({"status": status, "id": id, "progressDetail": {}}),
        },
    }
}

/// Runs a registry operation on the blocking pool, streaming its events as JSON lines. An error
/// before the first line is the answer's status, as dockerd does; later ones are error lines.
async fn progress_stream(
    engine: &Shared,
    f: impl FnOnce(&berth_engine::Engine, &(dyn Fn(PullEvent) + Sync)) -> berth_engine::Result<()>
        + Send
        + 'static,
) -> ApiResult<Response> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<berth_engine::Result<()>>();
    let e = engine.clone();
    let _worker = crate::long_lived(move || {
        let sent = std::sync::atomic::AtomicBool::new(false);
        let sender = std::sync::Mutex::new(tx);
        let r = f(&e, &|ev| {
            sent.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = sender.lock().unwrap().send(progress_json(ev));
        });
        match r {
            Err(err) if sent.load(std::sync::atomic::Ordering::Relaxed) => {
                let m = err.message;
                let _ = sender
                    .lock()
                    .unwrap()
                    .send(json!({"errorDetail": {"message": m}, "error": m}));
                let _ = done_tx.send(Ok(()));
            }
            r => {
                let _ = done_tx.send(r);
            }
        }
    });
    let first = tokio::select! {
        v = rx.recv() => v,
        r = done_rx => match r {
            Ok(Err(err)) => return Err(err.into()),
            _ => rx.recv().await,
        },
    };
    // Each line goes out as soon as it is made, not when the next one comes.
    let stream = futures_util::stream::unfold((first, rx), |(next, mut rx)| async move {
        let v = match next {
            Some(v) => v,
            None => rx.recv().await?,
        };
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(v.to_string() + "\r\n")),
            (None, rx),
        ))
    });
    Ok((
        [("Content-Type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /images/create`: `fromImage` pulls (JSON progress lines), `fromSrc=-` imports the
/// request body as a root file system.
async fn create(
    State(engine): State<Shared>,
    Query(q): Q,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if let Some(src) = q.get("fromSrc") {
        let changes = QueryPairs::parse(raw.as_deref()).changes();
        return import(engine, &q, &changes, src, body).await;
    }
    let Some(from) = q.get("fromImage").cloned() else {
        return Err(ApiError::invalid("fromImage or fromSrc is required"));
    };
    let tag = q.get("tag").cloned().unwrap_or_default();
    let name = if tag.is_empty() {
        from
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let r = Reference::parse(&name).map_err(|err| ApiError::invalid(err.to_string()))?;
    let opts = PullOptions {
        platform: q.get("platform").filter(|p| !p.is_empty()).cloned(),
        credentials: registry_auth(&headers),
    };
    progress_stream(&engine, move |e, progress| {
        e.pull(&r, &opts, progress).map(|_| ())
    })
    .await
}

/// `fromSrc=-`: the body is a (possibly compressed) tar of a root file system.
async fn import(
    engine: Shared,
    q: &HashMap<String, String>,
    changes: &[String],
    src: &str,
    body: Body,
) -> ApiResult<Response> {
    if src != "-" {
        return Err(ApiError::invalid(
            "importing from a URL is not supported: send the archive as the body",
        ));
    }
    let repo = q.get("repo").filter(|r| !r.is_empty()).cloned();
    let tag = q.get("tag").filter(|t| !t.is_empty()).cloned();
    let reference = match repo {
        Some(r) => Some(
            Reference::parse(&match tag {
                Some(t) => format!("{r}:{t}"),
                None => r,
            })
            .map_err(|err| ApiError::invalid(err.to_string()))?,
        ),
        None => None,
    };
    let message = q.get("message").filter(|m| !m.is_empty()).cloned();
    let mut cfg = berth_engine::image::ContainerConfig::default();
    for c in changes {
        berth_engine::image::config::apply_change(&mut cfg, c)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    let id = piped_request(&engine, body, move |e, fd| {
        // SAFETY: the pipe's read end, open for this call; ManuallyDrop leaves closing to it.
        let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        e.images
            .import(&*f, cfg, "-", message.as_deref(), reference.as_ref())
    })
    .await?;
    Ok(crate::json_lines(vec![json!({ "status": id })]))
}

/// `POST /images/{name}/push?tag=`.
async fn push(
    engine: Shared,
    name: String,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let name = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name,
    };
    let r = Reference::parse(&name).map_err(|err| ApiError::invalid(err.to_string()))?;
    let creds = registry_auth(headers);
    progress_stream(&engine, move |e, progress| {
        let res = e.push(&r, creds.as_ref(), progress)?;
        // dockerd's last line, which the docker CLI prints as it is.
        progress(PullEvent::Status(format!(
            "{}: digest: {} size: {}",
            res.tag, res.digest, res.size
        )));
        Ok(())
    })
    .await
}

/// `GET /images/{name}/history`.
async fn history(engine: Shared, name: String) -> ApiResult<Json<Value>> {
    blocking(&engine, move |e| {
        let rows = e.history(&name)?;
        Ok(Json(Value::Array(
            rows.into_iter()
                .map(|h| {
                    json!({
                        "Id": h.id.unwrap_or_else(|| "<missing>".into()),
                        "Created": unix_time(&h.created),
                        "CreatedBy": h.created_by,
                        "Tags": h.tags,
                        "Size": h.size,
                        "Comment": h.comment,
                    })
                })
                .collect(),
        )))
    })
    .await
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: a `docker save` tar.
async fn save(engine: Shared, names: Vec<String>) -> ApiResult<Response> {
    let wanted = blocking(&engine, move |e| e.save_selection(&names)).await?;
    let body = piped_body(&engine, move |e, fd| {
        // SAFETY: the pipe's write end, open for this call; ManuallyDrop leaves closing to it.
        let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        e.images.save(&wanted, std::io::BufWriter::new(&*f))
    })?;
    Ok(([("Content-Type", "application/x-tar")], body).into_response())
}

async fn save_many(State(engine): State<Shared>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    save(engine, QueryPairs::parse(raw.as_deref()).all("names")).await
}

/// `POST /images/load`: a `docker save` tar (docker or OCI layout) in the body.
/// `quiet` only hides progress bars in dockerd, which berth does not draw; the "Loaded image"
/// lines are always sent.
async fn load(State(engine): State<Shared>, body: Body) -> ApiResult<Response> {
    let loaded = piped_request(&engine, body, move |e, fd| {
        // SAFETY: the pipe's read end, open for this call; ManuallyDrop leaves closing to it.
        let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        e.images.load(&*f)
    })
    .await;
    // As dockerd: an archive that cannot be loaded is an error line in a 200 stream.
    let loaded = match loaded {
        Ok(l) => l,
        Err(err) => {
            let m = err.message;
            return Ok(crate::json_lines(vec![
                json!({"errorDetail": {"message": m}, "error": m}),
            ]));
        }
    };
    let mut out = Vec::new();
    for (refs, id) in loaded {
        let mut lines = refs
            .iter()
            .map(|r| format!("Loaded image: {}\n", r.familiar()))
            .collect::<Vec<_>>();
        if lines.is_empty() {
            lines.push(format!("Loaded image ID: {id}\n"));
        }
        out.extend(lines.into_iter().map(|l| json!({ "stream": l })));
    }
    Ok(crate::json_lines(out))
}

/// `POST /images/prune`: dangling images, or every unused one with `dangling=false`.
async fn prune(State(engine): State<Shared>, Query(q): Q) -> ApiResult<Json<Value>> {
    let all = crate::containers::filters(&q)?
        .get("dangling")
        .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let (lines, bytes) = blocking(&engine, move |e| e.prune_images(all)).await?;
    let deleted: Vec<Value> = lines
        .iter()
        .map(|l| match l.split_once(": ") {
            Some(("Untagged", r)) => json!({"Untagged": r}),
            Some((_, r)) => json!({"Deleted": r}),
            None => json!({"Deleted": l}),
        })
        .collect();
    Ok(Json(
        json!({"ImagesDeleted": deleted, "SpaceReclaimed": bytes}),
    ))
}
