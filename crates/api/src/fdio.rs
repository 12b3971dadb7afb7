//! Pipes and terminals on tokio's reactor, and response bodies fed by blocking engine calls
//! that write into a pipe (tar streams of `cp`, `export`, `save`).

use crate::{ApiError, ApiResult, Shared};
use axum::body::{Body, Bytes};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;

/// A non-blocking pipe end or terminal master driven by tokio's reactor.
pub struct Fd(AsyncFd<OwnedFd>);

impl Fd {
    /// Takes `fd`, made non-blocking.
    pub fn new(fd: OwnedFd) -> std::io::Result<Fd> {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open for as long as it lives.
        unsafe { AsyncFd::register(fd) }
            .map(Fd)
            .map_err(|e| e.into_parts().1)
    }

    /// The descriptor.
    pub fn raw(&self) -> RawFd {
        self.0.get_ref().as_raw_fd()
    }

    /// Reads some bytes; 0 at the end (EIO is how a terminal's master says its slave closed).
    pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut g = self.0.readable().await?;
            // SAFETY: read(2) into our buffer.
            match g.try_io(|fd| {
                let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(r as usize)
                }
            }) {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    /// Writes all of `data`.
    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut g = self.0.writable().await?;
            // SAFETY: write(2) from our buffer.
            match g.try_io(|fd| {
                let r = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(r as usize)
                }
            }) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}

/// A pipe, both ends close-on-exec.
pub fn pipe() -> ApiResult<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ApiError::internal(format!("pipe: {e}")))
}

/// A body streaming what `f` writes into the descriptor it gets, `f` running on the blocking
/// pool. A failure after the first bytes can only cut the stream short, as with dockerd.
pub fn piped_body(
    engine: &Shared,
    f: impl FnOnce(&berth_engine::Engine, RawFd) -> berth_engine::Result<()> + Send + 'static,
) -> ApiResult<Body> {
    let (r, w) = pipe()?;
    let e = engine.clone();
    // Paced by the client: a thread of its own (see [`crate::long_lived`]).
    drop(crate::long_lived(move || {
        if let Err(err) = f(&e, w.as_raw_fd()) {
            eprintln!("berth daemon: stream failed: {err}");
        }
        drop(w);
    }));
    let r = Fd::new(r).map_err(|e| ApiError::internal(e.to_string()))?;
    let stream = futures_util::stream::unfold(r, |r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), r))
            }
        }
    });
    Ok(Body::from_stream(stream))
}

/// Feeds a request body into a pipe while `f` reads the other end on the blocking pool;
/// returns what `f` returned.
pub async fn piped_request<T: Send + 'static>(
    engine: &Shared,
    body: Body,
    f: impl FnOnce(&berth_engine::Engine, RawFd) -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    use futures_util::StreamExt;
    let (r, w) = pipe()?;
    let e = engine.clone();
    let job = crate::long_lived(move || {
        let out = f(&e, r.as_raw_fd());
        drop(r);
        out
    });
    let w = Fd::new(w).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        let Ok(chunk) = chunk else { break };
        // The reader may stop early (an error in the archive): its answer says why.
        if w.write_all(&chunk).await.is_err() {
            break;
        }
    }
    drop(w);
    job.await?.map_err(ApiError::from)
}
