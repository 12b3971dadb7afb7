//! `attach` over the hijacked connection (`Upgrade: tcp`), bridged to the shim's framed socket,
//! and the attaches the docker CLI opens before `start` (held until the start hands them over).

use crate::{on_container, truthy, ApiError, ApiResult, Shared};
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::shim::{FRAME_EXIT, FRAME_STDERR, FRAME_STDIN, FRAME_STDIN_EOF, FRAME_STDOUT};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::os::unix::net::UnixStream as StdUnix;
use std::sync::{LazyLock, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Attach streams waiting for their container's start, by container id.
static PENDING: LazyLock<Mutex<HashMap<String, StdUnix>>> = LazyLock::new(Default::default);

/// Takes the stream a client attached before `start`, if any.
pub fn take_pending(id: &str) -> Option<StdUnix> {
    PENDING.lock().unwrap().remove(id)
}

async fn write_frame(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    kind: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(5 + payload.len());
    b.push(kind);
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    w.write_all(&b).await
}

/// Docker's detach keys ("ctrl-p,ctrl-q") as bytes.
fn detach_keys(spec: &str) -> Vec<u8> {
    spec.split(',')
        .filter_map(|k| {
            let k = k.trim();
            if let Some(c) = k.strip_prefix("ctrl-") {
                let c = c.chars().next()?.to_ascii_lowercase();
                match c {
                    'a'..='z' => Some(c as u8 - b'a' + 1),
                    '@' => Some(0),
                    '[' => Some(27),
                    '\\' => Some(28),
                    ']' => Some(29),
                    '^' => Some(30),
                    '_' => Some(31),
                    _ => None,
                }
            } else {
                k.bytes().next()
            }
        })
        .collect()
}

/// Finds the detach keys in a terminal client's input; a partial sequence that breaks off is
/// passed on.
pub(crate) struct DetachMatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatch {
    /// From Docker's spelling ("ctrl-p,ctrl-q").
    pub fn parse(spec: &str) -> Self {
        DetachMatch {
            keys: detach_keys(spec),
            matched: 0,
        }
    }

    /// The bytes to pass on, and whether the whole sequence has been seen.
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if self.matched > 0 && b != self.keys[self.matched] {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if !self.keys.is_empty() && b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            out.push(b);
        }
        (out, false)
    }
}

pub async fn attach(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    mut req: Request,
) -> ApiResult<Response> {
    let stdin = truthy(q.get("stdin"));
    let stdout = truthy(q.get("stdout"));
    let stderr = truthy(q.get("stderr"));
    let keys = DetachMatch::parse(
        q.get("detachKeys")
            .map(String::as_str)
            .unwrap_or("ctrl-p,ctrl-q"),
    );
    let (id, tty, stdin_once, running) = on_container(&engine, id, move |e, id| {
        let rec = e.record(&id)?;
        let st = e.state(&id)?;
        Ok((
            id,
            rec.config.tty,
            rec.config.stdin_once,
            st.status == berth_engine::container::Status::Running,
        ))
    })
    .await?;
    let shim = if running {
        engine.attach_stream(&id)?
    } else {
        let (mine, theirs) = StdUnix::pair().map_err(|e| ApiError::internal(e.to_string()))?;
        PENDING.lock().unwrap().insert(id.clone(), theirs);
        mine
    };
    shim.set_nonblocking(true)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = upgrade.await else { return };
        let Ok(shim) = tokio::net::UnixStream::from_std(shim) else {
            return;
        };
        let how = How {
            stdin,
            stdout,
            stderr,
            tty,
            stdin_once,
        };
        bridge(TokioIo::new(up), shim, how, keys).await;
    });
    Ok(switching_protocols(tty))
}

/// The `101 UPGRADED` answer of an attach or exec start: raw stream with a terminal, stdcopy
/// frames without.
pub(crate) fn switching_protocols(tty: bool) -> Response {
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("Content-Type", ctype)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .body(Body::empty())
        .unwrap()
}

/// Which streams an attach carries, and how its container's stdin behaves.
#[derive(Clone, Copy)]
pub(crate) struct How {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub stdin_once: bool,
}

/// Copies between a hijacked client connection and a shim's framed socket until the container's
/// output ends or the client detaches.
pub(crate) async fn bridge<S>(
    conn: S,
    shim: tokio::net::UnixStream,
    how: How,
    mut keys: DetachMatch,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let How {
        stdin,
        stdout,
        stderr,
        tty,
        stdin_once,
    } = how;
    let (mut cr, mut cw) = tokio::io::split(conn);
    let (mut sr, mut sw) = shim.into_split();
    let detached = std::sync::Arc::new(tokio::sync::Notify::new());
    let d2 = detached.clone();
    // Client → container: stdin frames; EOF is a half-close; the detach keys end the attach.
    let input = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    // As dockerd: the end of an attached stdin closes the container's only for
                    // a StdinOnce container without a terminal; otherwise it ends this attach
                    // (the docker CLI closes the connection when it sees the detach keys).
                    if stdin && (tty || !stdin_once) {
                        d2.notify_one();
                        return;
                    }
                    if stdin {
                        let _ = write_frame(&mut sw, FRAME_STDIN_EOF, &[]).await;
                    }
                    // Dropping the write half would shut the socket down, and the shim takes a
                    // closed socket for a client that left: hold it until the output is done.
                    std::future::pending::<()>().await;
                    return;
                }
                Ok(n) => n,
            };
            if !stdin {
                continue;
            }
            let (out, detach) = if tty {
                keys.feed(&buf[..n])
            } else {
                (buf[..n].to_vec(), false)
            };
            if detach {
                if !out.is_empty() {
                    let _ = write_frame(&mut sw, FRAME_STDIN, &out).await;
                }
                d2.notify_one();
                return;
            }
            if !out.is_empty() && write_frame(&mut sw, FRAME_STDIN, &out).await.is_err() {
                return;
            }
        }
    });
    // Container → client: raw for a terminal, stdcopy frames otherwise; the exit frame ends it.
    let output = async {
        while let Ok(kind) = sr.read_u8().await {
            let Ok(len) = sr.read_u32().await else { break };
            let mut payload = vec![0u8; len as usize];
            if sr.read_exact(&mut payload).await.is_err() {
                break;
            }
            let send = match kind {
                FRAME_STDOUT if stdout => true,
                FRAME_STDERR if stderr => true,
                FRAME_EXIT => break,
                _ => false,
            };
            if !send {
                continue;
            }
            let data = if tty {
                payload
            } else {
                crate::containers::frame(if kind == FRAME_STDERR { 2 } else { 1 }, &payload)
            };
            if cw.write_all(&data).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = output => {}
        _ = detached.notified() => {}
    }
    input.abort();
    let _ = cw.shutdown().await;
}

/// `POST /containers/{id}/resize?h=&w=`: a resize frame through a short-lived attach.
pub async fn resize(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let h: u16 = q.get("h").and_then(|v| v.parse().ok()).unwrap_or(0);
    let w: u16 = q.get("w").and_then(|v| v.parse().ok()).unwrap_or(0);
    on_container(&engine, id, move |e, id| {
        e.resize_tty(&id, h, w);
        Ok(StatusCode::OK)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_found_and_partial_ones_passed_on() {
        let mut m = DetachMatch::parse("ctrl-p,ctrl-q");
        assert_eq!(m.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(m.feed(b"x"), (b"\x10x".to_vec(), false));
        assert_eq!(m.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
        let mut m = DetachMatch::parse("a,b,c");
        assert_eq!(m.feed(b"aabc"), (b"a".to_vec(), true));
        let mut m = DetachMatch::parse("");
        assert_eq!(m.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }
}
