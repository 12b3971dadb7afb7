//! Exec instances: `POST /containers/{id}/exec` makes one, `POST /exec/{id}/start` runs it
//! (streamed over the hijacked connection, or detached), `GET /exec/{id}/json` reports its exit
//! code, `POST /exec/{id}/resize` sizes its terminal.
//!
//! The exec'd process is the daemon's child; its stdio are pipes (or a terminal from the
//! container's own devpts) the daemon copies to and from the client.

use crate::attach::DetachMatch;
use crate::fdio::Fd;
use crate::{on_container, ApiError, ApiResult, Shared};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::ExecRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

/// `POST /containers/{id}/exec`'s body (Docker's ExecConfig).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecConfig {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    /// dockerd reads JSON keys case-blind; docker-py sends this one as `detachKeys`.
    #[serde(alias = "detachKeys")]
    detach_keys: String,
    tty: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    user: String,
    working_dir: String,
    console_size: Option<Vec<u16>>,
}

/// `POST /exec/{id}/start`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartConfig {
    detach: bool,
    tty: Option<bool>,
    console_size: Option<Vec<u16>>,
}

/// One exec instance, from its creation until its container is removed.
struct Exec {
    container: String,
    config: ExecConfig,
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: i32,
    /// The terminal's master side, for resizes.
    master: Option<Arc<Fd>>,
    /// When its process ended.
    ended: Option<std::time::Instant>,
}

/// How long an ended exec instance stays inspectable, as dockerd's exec GC keeps them: a
/// container exec'd into every minute for months must not grow the table for ever.
const ENDED_KEPT: std::time::Duration = std::time::Duration::from_secs(300);

/// Exec instances by id.
static EXECS: LazyLock<Mutex<HashMap<String, Exec>>> = LazyLock::new(Default::default);

fn no_such_exec(id: &str) -> ApiError {
    ApiError::not_found(format!("No such exec instance: {id}"))
}

async fn create(
    State(engine): State<Shared>,
    Path(name): Path<String>,
    Json(cfg): Json<ExecConfig>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let cmd = cfg.cmd.clone().unwrap_or_default();
    let exec_id = berth_engine::store::random_hex(32);
    let x = exec_id.clone();
    let container = on_container(&engine, name, move |e, id| {
        e.exec_create(&id, &cmd, &x)?;
        Ok(id)
    })
    .await?;
    let mut execs = EXECS.lock().unwrap();
    // Instances of containers that are gone go with them, as dockerd's.
    execs.retain(|_, x| {
        engine.record(&x.container).is_ok() && x.ended.is_none_or(|t| t.elapsed() < ENDED_KEPT)
    });
    execs.insert(
        exec_id.clone(),
        Exec {
            container,
            config: cfg,
            started: false,
            running: false,
            exit_code: None,
            pid: 0,
            master: None,
            ended: None,
        },
    );
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec_id }))))
}

async fn inspect(Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let execs = EXECS.lock().unwrap();
    let x = execs.get(&id).ok_or_else(|| no_such_exec(&id))?;
    let cmd = x.config.cmd.clone().unwrap_or_default();
    Ok(Json(json!({
        "ID": id,
        "Running": x.running,
        "ExitCode": x.exit_code,
        "ProcessConfig": {
            "tty": x.config.tty,
            "entrypoint": cmd.first(),
            "arguments": cmd.get(1..).unwrap_or_default(),
            "privileged": x.config.privileged,
            "user": x.config.user,
        },
        "OpenStdin": x.config.attach_stdin,
        "OpenStderr": x.config.attach_stderr,
        "OpenStdout": x.config.attach_stdout,
        "CanRemove": false,
        "ContainerID": x.container,
        "DetachKeys": x.config.detach_keys,
        "Pid": x.pid,
    })))
}

async fn resize(
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let h: u16 = q.get("h").and_then(|v| v.parse().ok()).unwrap_or(0);
    let w: u16 = q.get("w").and_then(|v| v.parse().ok()).unwrap_or(0);
    let execs = EXECS.lock().unwrap();
    let x = execs.get(&id).ok_or_else(|| no_such_exec(&id))?;
    if let Some(m) = &x.master {
        set_size(m.raw(), h, w);
    }
    Ok(StatusCode::OK)
}

fn set_size(fd: RawFd, rows: u16, cols: u16) {
    if rows == 0 || cols == 0 {
        return;
    }
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// The daemon's ends of a started exec.
enum Ends {
    Terminal(Arc<Fd>),
    Pipes {
        stdin: Option<Fd>,
        stdout: Option<Fd>,
        stderr: Option<Fd>,
    },
}

/// Starts the process; returns its pid and the daemon's ends of its stdio.
fn launch(
    engine: &berth_engine::Engine,
    exec_id: &str,
    container: &str,
    cfg: &ExecConfig,
    tty: bool,
    detach: bool,
    size: Option<(u16, u16)>,
) -> berth_engine::Result<(i32, Option<Ends>)> {
    let cmd = cfg.cmd.clone().unwrap_or_default();
    let mut req = ExecRequest {
        cmd,
        env: cfg.env.clone().unwrap_or_default(),
        user: Some(cfg.user.clone()).filter(|u| !u.is_empty()),
        workdir: Some(cfg.working_dir.clone()).filter(|w| !w.is_empty()),
        privileged: cfg.privileged,
        exec_id: Some(exec_id.to_string()),
        ..Default::default()
    };
    let io_err = |e: std::io::Error| berth_engine::Error::internal(e.to_string());
    if detach {
        return Ok((engine.exec(container, &req)?, None));
    }
    if tty {
        let (master, slave) = engine.open_pty(container)?;
        if let Some((h, w)) = size {
            set_size(master.as_raw_fd(), h, w);
        }
        req.tty_path = Some(slave);
        let pid = engine.exec(container, &req)?;
        let m = Arc::new(Fd::new(master).map_err(io_err)?);
        return Ok((pid, Some(Ends::Terminal(m))));
    }
    let pair = |want: bool| -> berth_engine::Result<Option<(OwnedFd, OwnedFd)>> {
        if !want {
            return Ok(None);
        }
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map(Some)
            .map_err(|e| berth_engine::Error::internal(format!("pipe: {e}")))
    };
    let i = pair(cfg.attach_stdin)?;
    let o = pair(cfg.attach_stdout)?;
    let e = pair(cfg.attach_stderr)?;
    req.stdio = [
        i.as_ref().map(|p| p.0.as_raw_fd()),
        o.as_ref().map(|p| p.1.as_raw_fd()),
        e.as_ref().map(|p| p.1.as_raw_fd()),
    ];
    let pid = engine.exec(container, &req)?;
    // Only the process keeps its ends, so our reads see EOF when it (and its children) are done.
    let stdin = i.map(|(_, w)| Fd::new(w)).transpose().map_err(io_err)?;
    let stdout = o.map(|(r, _)| Fd::new(r)).transpose().map_err(io_err)?;
    let stderr = e.map(|(r, _)| Fd::new(r)).transpose().map_err(io_err)?;
    Ok((
        pid,
        Some(Ends::Pipes {
            stdin,
            stdout,
            stderr,
        }),
    ))
}

/// Waits for the process without holding a thread (its pidfd becomes readable when it exits),
/// reaps it, then records its exit code and the `exec_die` event.
fn watch(engine: Shared, exec_id: String, pid: i32) -> tokio::task::JoinHandle<i32> {
    tokio::spawn(async move {
        let code = reap(pid).await;
        let e = engine.clone();
        let x = exec_id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let container = EXECS.lock().unwrap().get(&x).map(|x| x.container.clone());
            if let Some(rec) = container.and_then(|c| e.record(&c).ok()) {
                e.emit(
                    &rec,
                    "exec_die",
                    &[("execID", &x), ("exitCode", &code.to_string())],
                );
            }
        })
        .await;
        code
    })
}

/// The exit code of our child `pid`, Docker style (128 + signal); 137 when it cannot be had.
async fn reap(pid: i32) -> i32 {
    // SAFETY: pidfd_open(2) of our own child; the descriptor is owned from here on.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return 137;
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw as i32) };
    // SAFETY: the OwnedFd moves into the AsyncFd and stays open for as long as it lives.
    let Ok(fd) = (unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }) else {
        return 137;
    };
    loop {
        let mut status = 0;
        // SAFETY: a non-blocking wait for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 137;
        }
        match fd.readable().await {
            Ok(mut g) => g.clear_ready(),
            Err(_) => return 137,
        }
    }
}

fn finish(exec_id: &str, code: i32) {
    if let Some(x) = EXECS.lock().unwrap().get_mut(exec_id) {
        x.running = false;
        x.exit_code = Some(code);
        x.ended = Some(std::time::Instant::now());
        // The terminal goes with the process: a long-lived container's execs must not pile
        // up descriptors.
        x.master = None;
    }
}

async fn start(
    State(engine): State<Shared>,
    Path(exec_id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let sc: StartConfig = if body.is_empty() {
        StartConfig::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(e.to_string()))?
    };
    let (container, cfg) = {
        let mut execs = EXECS.lock().unwrap();
        let x = execs
            .get_mut(&exec_id)
            .ok_or_else(|| no_such_exec(&exec_id))?;
        if x.started {
            let what = if x.running {
                "is already running"
            } else {
                "has already run"
            };
            return Err(ApiError::conflict(format!("Exec command {exec_id} {what}")));
        }
        x.started = true;
        x.running = true;
        (x.container.clone(), x.config.clone())
    };
    // The exec's own setting decides whether it gets a terminal; the start request's decides
    // the framing of what comes back (dockerd's: a client that starts a terminal exec without
    // Tty reads stdcopy frames).
    let tty = cfg.tty;
    let raw = sc.tty.unwrap_or(cfg.tty);
    let size = sc
        .console_size
        .or(cfg.console_size.clone())
        .filter(|s| s.len() == 2)
        .map(|s| (s[0], s[1]));
    if sc.detach {
        let e = engine.clone();
        let (x, c, k) = (exec_id.clone(), container.clone(), cfg.clone());
        let launched =
            tokio::task::spawn_blocking(move || launch(&e, &x, &c, &k, false, true, None))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        let (pid, _) = launched.inspect_err(|err| finish(&exec_id, start_failure_code(err)))?;
        if let Some(x) = EXECS.lock().unwrap().get_mut(&exec_id) {
            x.pid = pid;
        }
        let done = watch(engine.clone(), exec_id.clone(), pid);
        tokio::spawn(async move {
            let code = done.await.unwrap_or(137);
            finish(&exec_id, code);
        });
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .body(Body::empty())
            .unwrap());
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let keys = DetachMatch::parse(if cfg.detach_keys.is_empty() {
        "ctrl-p,ctrl-q"
    } else {
        &cfg.detach_keys
    });
    tokio::spawn(async move {
        let Ok(up) = upgrade.await else {
            finish(&exec_id, 126);
            return;
        };
        let conn = TokioIo::new(up);
        let e = engine.clone();
        let (x, c, k) = (exec_id.clone(), container.clone(), cfg.clone());
        let launched =
            tokio::task::spawn_blocking(move || launch(&e, &x, &c, &k, tty, false, size)).await;
        let (mut cr, mut cw) = tokio::io::split(conn);
        let (pid, ends) = match launched {
            Ok(Ok((pid, Some(ends)))) => (pid, ends),
            Ok(Err(err)) => {
                // As dockerd: the connection is already hijacked, so the error goes down the
                // stream and the exit code (126/127) into the instance.
                let msg = format!("{err}\r\n");
                let data = if raw {
                    msg.into_bytes()
                } else {
                    crate::containers::frame(1, msg.as_bytes())
                };
                let _ = cw.write_all(&data).await;
                finish(&exec_id, start_failure_code(&err));
                let _ = cw.shutdown().await;
                return;
            }
            _ => {
                finish(&exec_id, 126);
                let _ = cw.shutdown().await;
                return;
            }
        };
        if let Some(x) = EXECS.lock().unwrap().get_mut(&exec_id) {
            x.pid = pid;
            if let Ends::Terminal(m) = &ends {
                x.master = Some(m.clone());
            }
        }
        let done = watch(engine.clone(), exec_id.clone(), pid);
        let detached = Arc::new(tokio::sync::Notify::new());
        let d2 = detached.clone();
        match ends {
            Ends::Terminal(master) => {
                let m2 = master.clone();
                let stdin = cfg.attach_stdin;
                let mut keys = keys;
                let input = tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match cr.read(&mut buf).await {
                            // The end of a terminal client's input ends the attach, not the
                            // process; without stdin the docker CLI half-closes at once, which
                            // means nothing.
                            Ok(0) | Err(_) if stdin => {
                                d2.notify_one();
                                return;
                            }
                            Ok(0) | Err(_) => {
                                std::future::pending::<()>().await;
                                return;
                            }
                            Ok(n) if stdin => {
                                let (data, detach) = keys.feed(&buf[..n]);
                                if !data.is_empty() && m2.write_all(&data).await.is_err() {
                                    return;
                                }
                                if detach {
                                    d2.notify_one();
                                    return;
                                }
                            }
                            Ok(_) => {}
                        }
                    }
                });
                let output = async {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = master.read(&mut buf).await {
                        let out = if raw {
                            buf[..n].to_vec()
                        } else {
                            crate::containers::frame(1, &buf[..n])
                        };
                        if n == 0 || cw.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                };
                let ended = tokio::select! {
                    _ = output => true,
                    _ = detached.notified() => false,
                };
                input.abort();
                if ended {
                    finish(&exec_id, done.await.unwrap_or(137));
                } else {
                    tokio::spawn(async move { finish(&exec_id, done.await.unwrap_or(137)) });
                }
                let _ = cw.shutdown().await;
            }
            Ends::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                let input = tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    let Some(w) = stdin else {
                        // Nothing to feed: read only to notice the client going away.
                        while matches!(cr.read(&mut buf).await, Ok(n) if n > 0) {}
                        std::future::pending::<()>().await;
                        return;
                    };
                    loop {
                        match cr.read(&mut buf).await {
                            Ok(n) if n > 0 => {
                                if w.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                            // A half-close is the end of the process's input.
                            _ => break,
                        }
                    }
                    drop(w);
                    std::future::pending::<()>().await;
                });
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
                for (fd, stream) in [(stdout, 1u8), (stderr, 2u8)] {
                    let Some(fd) = fd else { continue };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 32 * 1024];
                        while let Ok(n) = fd.read(&mut buf).await {
                            let out = if raw {
                                buf[..n].to_vec()
                            } else {
                                crate::containers::frame(stream, &buf[..n])
                            };
                            if n == 0 || tx.send(out).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                drop(tx);
                while let Some(f) = rx.recv().await {
                    if cw.write_all(&f).await.is_err() {
                        // The client is gone: as dockerd, the process goes too, or it would
                        // block on a full pipe forever.
                        // SAFETY: kill(2) of our own child, not reaped yet (watch reaps it).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        break;
                    }
                }
                finish(&exec_id, done.await.unwrap_or(137));
                input.abort();
                let _ = cw.shutdown().await;
            }
        }
    });
    Ok(crate::attach::switching_protocols(raw))
}

/// dockerd's exit code for an exec that could not start: 127 for a missing command, else 126.
fn start_failure_code(err: &berth_engine::Error) -> i32 {
    match err.kind.exit_code() {
        127 => 127,
        _ => 126,
    }
}
