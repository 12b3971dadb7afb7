//! Where the daemon listens: unix sockets, and TCP only behind TLS that checks client
//! certificates against a CA (dockerd's `--tlsverify`): the API is root on the host, so it is
//! never served to whoever can reach a port.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// One `-H` address.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// `unix:///path`.
    Unix(PathBuf),
    /// `tcp://host:port`.
    Tcp(String),
}

impl Endpoint {
    /// Parses dockerd's `-H` spelling; a bare path is a unix socket.
    pub fn parse(h: &str) -> Result<Endpoint, String> {
        if let Some(p) = h.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if let Some(a) = h.strip_prefix("tcp://") {
            let a = a.trim_end_matches('/');
            let a = if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:2376")
            };
            return Ok(Endpoint::Tcp(a));
        }
        if h.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(h)));
        }
        Err(format!("-H {h}: use unix:///path or tcp://host:port"))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// The PEM files of `--tlscacert`, `--tlscert`, `--tlskey`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA that signs the clients' certificates.
    pub ca: PathBuf,
    /// The daemon's certificate (chain).
    pub cert: PathBuf,
    /// The daemon's private key.
    pub key: PathBuf,
}

fn bad(what: &str, p: &std::path::Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {}: {e}", p.display()),
    )
}

/// A TLS server configuration that requires a client certificate signed by the CA.
pub fn server_config(files: &TlsFiles) -> io::Result<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&files.ca).map_err(|e| bad("CA", &files.ca, e))? {
        roots
            .add(c.map_err(|e| bad("CA", &files.ca, e))?)
            .map_err(|e| bad("CA", &files.ca, e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| bad("CA", &files.ca, e))?;
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("certificate", &files.cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", &files.cert, e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("key", &files.key, e))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate", &files.cert, e))?;
    Ok(Arc::new(cfg))
}

/// TCP connections that completed a TLS handshake with a verified client. Handshakes run in
/// their own tasks, so a slow or silent client never holds up the others.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    /// Binds `addr` and starts accepting.
    pub async fn bind(addr: &str, config: Arc<rustls::ServerConfig>) -> io::Result<TlsListener> {
        let tcp = TcpListener::bind(addr).await?;
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        // Unauthenticated peers must not be able to hold every descriptor of the daemon.
        let handshakes = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
        tokio::spawn(async move {
            loop {
                let Ok((sock, peer)) = tcp.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                    drop(sock);
                    continue;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let hs = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(sock),
                    )
                    .await;
                    if let Ok(Ok(s)) = hs {
                        let _ = tx.send((s, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { rx, addr: local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Most connections served at once; more wait in the kernel's backlog until one ends.
const MAX_CONNECTIONS: usize = 1024;
/// A client must have sent a request's headers within this, or its connection is closed: a
/// client that trickles bytes (slowloris) holds no slot for long.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `app` on every connection `listener` accepts, at most [`MAX_CONNECTIONS`] at once,
/// with hijacking (attach, exec) allowed, until `stop` changes.
pub async fn serve_connections<L>(
    mut listener: L,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> io::Result<()>
where
    L: axum::serve::Listener,
{
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            _ = stop.changed() => return Ok(()),
        };
        let (io, _) = tokio::select! {
            c = listener.accept() => c,
            _ = stop.changed() => return Ok(()),
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            let _ = conn.with_upgrades().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerd_does() {
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock").unwrap(),
            Endpoint::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2376").unwrap(),
            Endpoint::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://0.0.0.0").unwrap(),
            Endpoint::Tcp("0.0.0.0:2376".into())
        );
        assert!(Endpoint::parse("fd://").is_err());
    }
}
