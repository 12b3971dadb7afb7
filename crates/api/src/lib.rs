//! The Docker Engine API on a unix socket, served from the same engine library the CLI uses.
//! Handlers run the (synchronous) engine on tokio's blocking pool; one small current-thread
//! runtime keeps the idle daemon small.

mod attach;
mod build;
mod containers;
mod error;
mod exec;
mod fdio;
mod files;
mod images;
pub mod listen;
mod networks;
mod resources;
mod swarm;
mod system;
mod volumes;

use axum::body::Body;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use berth_engine::Engine;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use berth_engine::inspect::{API_VERSION, MIN_API_VERSION};
pub use containers::{create_request, filters};
pub use error::ApiError;
pub use listen::{Endpoint, TlsFiles};

/// Shared state of the handlers.
pub type Shared = Arc<Engine>;

/// What handlers return.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// A stream of JSON lines as dockerd sends progress: chunked, never with a length, since
/// clients (docker-py) read a body with a length as one JSON document.
pub fn json_lines(lines: Vec<serde_json::Value>) -> Response {
    let chunks = lines.into_iter().map(|v| {
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(v.to_string() + "\r\n"))
    });
    (
        [("Content-Type", "application/json")],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

/// Runs `f` with the engine on the blocking pool (the engine does file and process work).
pub async fn blocking<T: Send + 'static>(
    engine: &Shared,
    f: impl FnOnce(&Engine) -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let e = engine.clone();
    tokio::task::spawn_blocking(move || f(&e))
        .await
        .map_err(|e| ApiError::internal(format!("handler failed: {e}")))?
        .map_err(ApiError::from)
}

/// Runs `f` on a thread of its own: for work that lasts as long as a client or a container
/// wants (wait, logs and events that follow, streamed bodies, builds, pulls). On the bounded
/// blocking pool such work would starve every other request once enough clients wait; its
/// threads are bounded instead by the daemon's connection limit.
/// The thread starts at once; the returned future only collects its answer.
pub fn long_lived<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = ApiResult<T>> {
    use std::sync::atomic::Ordering;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A client that leaves a wait behind leaves its thread until the container stops: the
    // count is bounded so that repeating it cannot exhaust the host.
    let started = if LONG_LIVED.fetch_add(1, Ordering::Relaxed) >= MAX_LONG_LIVED {
        LONG_LIVED.fetch_sub(1, Ordering::Relaxed);
        Err(ApiError::unavailable(
            "too many long-running requests at once: try again later",
        ))
    } else {
        std::thread::Builder::new()
            .name("berth-long".into())
            .spawn(move || {
                let _ = tx.send(f());
                LONG_LIVED.fetch_sub(1, Ordering::Relaxed);
            })
            .map_err(|e| {
                LONG_LIVED.fetch_sub(1, Ordering::Relaxed);
                ApiError::internal(format!("start a thread: {e}"))
            })
    };
    async move {
        started?;
        rx.await.map_err(|_| ApiError::internal("handler failed"))
    }
}

/// Threads of [`long_lived`] work running now.
static LONG_LIVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// At most this many at once: each holds a small stack, a few descriptors, maybe a container's
/// files; far above what real clients keep open.
const MAX_LONG_LIVED: usize = 4096;

/// [`blocking`] for a container route: resolves the name or id prefix first, so every
/// handler answers "No such container" the same way.
pub async fn on_container<T: Send + 'static>(
    engine: &Shared,
    name: String,
    f: impl FnOnce(&Engine, String) -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    blocking(engine, move |e| {
        let id = e.resolve(&name)?;
        f(e, id)
    })
    .await
}

/// Unix seconds of an RFC 3339 time (0 when it does not parse), as the API's `Created` fields.
pub fn unix_time(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn version_tuple(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Strips `/v1.NN` and refuses versions outside the served range, as dockerd does.
async fn strip_version(mut req: Request, next: Next) -> Response {
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some((ver, tail)) = rest.split_once('/') {
            if let Some(v) = version_tuple(ver) {
                let max = version_tuple(API_VERSION).unwrap();
                let min = version_tuple(MIN_API_VERSION).unwrap();
                if v > max {
                    return ApiError::invalid(format!("client version {ver} is too new. Maximum supported API version is {API_VERSION}")).into_response();
                }
                if v < min {
                    return ApiError::invalid(format!("client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version")).into_response();
                }
                let mut new = format!("/{tail}");
                if let Some(q) = req.uri().query() {
                    new.push('?');
                    new.push_str(q);
                }
                if let Ok(u) = new.parse::<Uri>() {
                    *req.uri_mut() = u;
                }
            }
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("Api-Version", API_VERSION.parse().unwrap());
    h.insert("Ostype", "linux".parse().unwrap());
    h.insert(
        "Server",
        format!("Docker/{} (linux)", env!("CARGO_PKG_VERSION"))
            .parse()
            .unwrap(),
    );
    resp
}

/// The whole API.
pub fn router(engine: Shared) -> Router {
    let inner = Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(files::routes())
        .merge(resources::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(build::routes())
        .merge(images::routes())
        .merge(swarm::routes())
        .fallback(|req: Request<Body>| async move {
            ApiError::not_found(format!(
                "page not found: {} {}",
                req.method(),
                req.uri().path()
            ))
        })
        .with_state(engine);
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn(strip_version))
}

/// Where the daemon listens unless told otherwise.
pub fn default_socket() -> PathBuf {
    PathBuf::from("/run/berth/berth.sock")
}

/// How often the daemon collects what killed operations left in the store.
const ORPHAN_PERIOD: std::time::Duration = std::time::Duration::from_secs(600);

/// Collects orphaned layers and blobs at start and every [`ORPHAN_PERIOD`]: a daemon that runs
/// for months must not keep what crashed pulls and commits left.
async fn collect_orphans(engine: Shared) {
    let mut tick = tokio::time::interval(ORPHAN_PERIOD);
    loop {
        tick.tick().await;
        let e = engine.clone();
        let _ = tokio::task::spawn_blocking(move || {
            berth_engine::container::names::sweep(&e.root);
            e.collect_orphans()
        })
        .await;
    }
}

/// Serves the API on every endpoint until SIGTERM or SIGINT; containers keep running (their
/// shims own them). Refuses a unix socket another daemon answers on, and TCP without TLS.
pub fn serve(
    engine: Engine,
    endpoints: &[Endpoint],
    tls: Option<&TlsFiles>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(64)
        // Idle engine threads go soon: an idle daemon should hold one thread, not dozens.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()?;
    let mut sockets = Vec::new();
    let r = rt.block_on(async {
        let shared = Arc::new(engine);
        let app = router(shared.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut servers: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>>>>> = Vec::new();
        for ep in endpoints {
            let stop = stop_rx.clone();
            match ep {
                Endpoint::Unix(socket) => {
                    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::AddrInUse,
                            format!("another daemon is listening on {}", socket.display()),
                        ));
                    }
                    if let Some(dir) = socket.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let _ = std::fs::remove_file(socket);
                    // Born 0600 (the umask around bind), so no one else can connect in the
                    // moment before its group and mode are set.
                    // SAFETY: umask(2) cannot fail; the daemon is starting, no thread makes files.
                    let old = unsafe { libc::umask(0o177) };
                    let bound = tokio::net::UnixListener::bind(socket);
                    // SAFETY: as above.
                    unsafe { libc::umask(old) };
                    let listener = bound?;
                    set_socket_mode(socket);
                    sockets.push(socket.clone());
                    servers.push(Box::pin(listen::serve_connections(listener, app.clone(), stop)));
                }
                Endpoint::Tcp(addr) => {
                    let Some(files) = tls else {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            format!("-H tcp://{addr} needs --tlsverify with --tlscacert, --tlscert and --tlskey: the API must not be open to whoever reaches the port"),
                        ));
                    };
                    let listener = listen::TlsListener::bind(addr, listen::server_config(files)?).await?;
                    servers.push(Box::pin(listen::serve_connections(listener, app.clone(), stop)));
                }
            }
        }
        tokio::spawn(shrink_when_idle());
        tokio::spawn(collect_orphans(shared));
        let signals = async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            let _ = stop_tx.send(true);
            // In-flight requests get two seconds; a client blocked in a wait or an attach must
            // not keep the daemon alive (the containers live on in their shims anyway).
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        };
        tokio::select! {
            r = futures_util::future::try_join_all(servers) => r.map(|_| ()),
            _ = signals => Ok(()),
        }
    });
    for s in &sockets {
        let _ = std::fs::remove_file(s);
    }
    // Blocking handlers may still sit in an engine wait on a long-running container: do not
    // wait for them, the shims carry on without the daemon.
    rt.shutdown_background();
    r
}

/// Requests served so far (for the idle check).
static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// After two quiet seconds the daemon gives back what serving touched (heap, code pages), once
/// per quiet spell: an idle daemon should cost a few MiB. Runs on the runtime's (main) thread.
async fn shrink_when_idle() {
    use std::sync::atomic::Ordering;
    let mut last = u64::MAX;
    let mut shrunk = false;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let n = REQUESTS.load(Ordering::Relaxed);
        if n != last {
            last = n;
            shrunk = false;
            continue;
        }
        if !shrunk {
            berth_engine::idle::shrink_to_idle();
            shrunk = true;
        }
    }
}

/// 0660 with the `berth` group when it exists (else root's only), as dockerd does with `docker`.
fn set_socket_mode(socket: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let group = std::fs::read_to_string("/etc/group").ok().and_then(|g| {
        g.lines()
            .find(|l| l.starts_with("berth:"))
            .and_then(|l| l.split(':').nth(2).and_then(|n| n.parse::<u32>().ok()))
    });
    if let Some(gid) = group {
        let _ = std::os::unix::fs::chown(socket, None, Some(gid));
    }
    let _ = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660));
}

/// Drops JSON nulls (clients send `"Cmd": null` for "not set") so they read as absent.
pub fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Docker's boolean query values: "1", "true", "True".
/// A query string as its pairs in order: parameters that repeat (`t`, `changes`, `names`)
/// would keep only their last value in a map.
pub(crate) struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    /// Reads a raw query string (none: no pairs).
    pub(crate) fn parse(raw: Option<&str>) -> QueryPairs {
        QueryPairs(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `k`, as Go's `FormValue` reads it (docker-py sends an out-of-context
    /// Dockerfile as `dockerfile=NAME&dockerfile=CONTENT`).
    pub(crate) fn one(&self, k: &str) -> Option<String> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone())
    }

    /// Every value of `k`, in order.
    pub(crate) fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The Dockerfile instructions of the repeated `changes` parameter (commit, import); a
    /// value may hold several lines, as dockerd reads them as one Dockerfile.
    pub(crate) fn changes(&self) -> Vec<String> {
        self.all("changes")
            .iter()
            .flat_map(|v| v.lines().map(String::from).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect()
    }
}

pub fn truthy(v: Option<&String>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes")
    )
}
