//! `pull`: reference → manifest (through an index to this platform) → config → layers, every
//! layer downloaded and unpacked at once in its own thread, each byte hashed as it streams by.

use super::manifest::{parse_platform, read_manifest, LayerJob, Manifest, Platform};
use super::{Client, RegistryConfig, MANIFEST_ACCEPT};
use crate::content::sha256_digest;
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::image::{ImageConfig, ImageStore, LayerRef};
use crate::reference::Reference;
use crate::store::Root;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Layers fetched and unpacked at the same time.
const MAX_PARALLEL: usize = 8;

/// What a pull reports as it goes, in the shape of Docker's progress messages.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// A line without a layer id ("latest: Pulling from library/busybox").
    Status(String),
    /// A layer's state; `progress` is (bytes so far, total) while downloading.
    Layer {
        /// First 12 hex digits of the layer blob.
        id: String,
        /// "Pulling fs layer", "Downloading", "Download complete", "Pull complete", …
        status: String,
        /// Bytes so far and total, for the progress bar.
        progress: Option<(u64, u64)>,
    },
}

/// Settings of one pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// "os/arch[/variant]"; None is this host's.
    pub platform: Option<String>,
    /// Credentials to use instead of the stored ones (the API's `X-Registry-Auth`).
    pub credentials: Option<crate::registry::auth::Credentials>,
}

/// What a pull left behind.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The image id.
    pub id: String,
    /// The manifest digest ("Digest:" line).
    pub digest: String,
    /// False when the name already meant this image ("Image is up to date").
    pub downloaded: bool,
}

/// The largest image config read from a registry (Docker Hub's biggest are a few hundred KiB):
/// a hostile registry must not fill the disk or the memory with one.
const MAX_CONFIG: u64 = 16 << 20;

/// Fetches a manifest by tag or digest; checks the body against the digest it was asked by.
fn fetch_manifest(c: &Client, reference: &str) -> Result<(Vec<u8>, String, String)> {
    let url = c.url(&format!("manifests/{reference}"))?;
    let mut reply = c.send(
        "GET",
        &url,
        &c.pull_scope(),
        &[("Accept", MANIFEST_ACCEPT)],
        None,
    )?;
    let what = format!("{}/{}:{}", c.host, c.repository, reference);
    if reply.status == 404 {
        return Err(Error::not_found(format!(
            "manifest for {} not found: manifest unknown",
            what.replace(":sha256:", "@sha256:")
        )));
    }
    if reply.status >= 300 {
        let e = c.status_error(&format!("pull {what}"), reply);
        return Err(e);
    }
    let mt = reply
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let body = reply
        .body
        .with_config()
        .limit(8 << 20)
        .read_to_vec()
        .map_err(|e| Error::internal(format!("read manifest {what}: {e}")))?;
    let digest = sha256_digest(&body);
    if reference.starts_with("sha256:") && reference != digest {
        return Err(Error::invalid(format!(
            "manifest verification failed for digest {reference}: got {digest}"
        )));
    }
    Ok((body, digest, mt))
}

/// Reads a blob, reconnecting with a Range request where the stream broke.
struct BlobReader<'c> {
    client: &'c Client,
    url: String,
    offset: u64,
    size: u64,
    body: Option<ureq::BodyReader<'static>>,
    failures: u32,
}

impl BlobReader<'_> {
    fn open(&mut self) -> io::Result<()> {
        let range = format!("bytes={}-", self.offset);
        let mut headers = vec![];
        if self.offset > 0 {
            headers.push(("Range", range.as_str()));
        }
        let reply = self
            .client
            .send("GET", &self.url, &self.client.pull_scope(), &headers, None)
            .map_err(|e| io::Error::other(e.message))?;
        match reply.status {
            206 => {}
            200 => {
                // No range support: read again from the start and throw away what we have.
                let mut r = reply.body.into_reader();
                io::copy(&mut (&mut r).take(self.offset), &mut io::sink())?;
                self.body = Some(r);
                return Ok(());
            }
            s => {
                let e = self.client.status_error("fetch blob", reply);
                return Err(io::Error::new(
                    if s == 404 {
                        io::ErrorKind::NotFound
                    } else {
                        io::ErrorKind::Other
                    },
                    e.message,
                ));
            }
        }
        self.body = Some(reply.body.into_reader());
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset >= self.size {
                return Ok(0);
            }
            let res = match &mut self.body {
                Some(b) => b.read(buf),
                None => match self.open() {
                    Ok(()) => continue,
                    Err(e) => Err(e),
                },
            };
            match res {
                Ok(0) => {
                    self.body = None;
                    self.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed after {} of {} bytes",
                            self.offset, self.size
                        ),
                    ))?;
                }
                Ok(n) => {
                    let n = n.min((self.size - self.offset) as usize);
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => {
                    self.body = None;
                    self.fail(e)?;
                }
            }
        }
    }
}

impl BlobReader<'_> {
    /// Five retries with a doubling pause (0.2 s to 3.2 s), as Docker retries a broken download.
    fn fail(&mut self, e: io::Error) -> io::Result<()> {
        self.failures += 1;
        if self.failures > 5 {
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(100 * (1 << self.failures)));
        Ok(())
    }
}

/// The compressed side of a layer: hashed and written to the blob's temp file as it passes.
struct Tee<'a, R> {
    inner: R,
    file: File,
    hasher: Sha256,
    count: u64,
    report: Box<dyn FnMut(u64) + 'a>,
    last: Instant,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.file.write_all(&buf[..n])?;
        self.count += n as u64;
        if self.last.elapsed() > Duration::from_millis(100) {
            self.last = Instant::now();
            (self.report)(self.count);
        }
        Ok(n)
    }
}

/// Shares the tee between the unpacker (which reads) and the check (which drains and verifies).
struct Shared<'a, R>(Rc<RefCell<Tee<'a, R>>>);

impl<R: Read> Read for Shared<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// The 12 hex digits Docker shows for a layer or blob digest.
pub(crate) fn short(digest: &str) -> String {
    digest
        .strip_prefix("sha256:")
        .unwrap_or(digest)
        .chars()
        .take(12)
        .collect()
}

/// Downloads one layer blob into the content store while unpacking it.
fn fetch_layer(
    c: &Client,
    root: &Root,
    images: &ImageStore,
    job: &LayerJob,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<LayerRef> {
    let id = short(&job.digest);
    let ev = |status: &str, p: Option<(u64, u64)>| {
        progress(PullEvent::Layer {
            id: id.clone(),
            status: status.into(),
            progress: p,
        })
    };
    let reference = LayerRef {
        diff_id: job.diff_id.clone(),
        blob: job.digest.clone(),
        media_type: job.media_type.clone(),
        blob_size: job.size,
    };
    let have_layer = images.layers.exists(&job.diff_id);
    if have_layer && images.content.exists(&job.digest) {
        crate::store::touch(&images.layers.dir(&job.diff_id)?);
        crate::store::touch(&images.content.path(&job.digest)?);
        ev("Already exists", None);
        return Ok(reference);
    }
    let url = c.url(&format!("blobs/{}", job.digest))?;
    let reader = BlobReader {
        client: c,
        url,
        offset: 0,
        size: job.size,
        body: None,
        failures: 0,
    };
    if have_layer {
        // The layer is here (from another image) but not its blob: fetch the blob only.
        images
            .content
            .ingest(reader, Some(&job.digest), Some(job.size))?;
        ev("Pull complete", None);
        return Ok(reference);
    }
    let tmp: PathBuf = root.temp_path("blob");
    let file = File::create(&tmp).map_err(|e| Error::io(format!("create {}", tmp.display()), e))?;
    let size = job.size;
    let report_id = id.clone();
    let tee = Rc::new(RefCell::new(Tee {
        inner: reader,
        file,
        hasher: Sha256::new(),
        count: 0,
        report: Box::new(move |n| {
            progress(PullEvent::Layer {
                id: report_id.clone(),
                status: "Downloading".into(),
                progress: Some((n, size)),
            })
        }),
        last: Instant::now(),
    }));
    let check_tee = tee.clone();
    let digest = job.digest.clone();
    let dest = images.content.path(&job.digest)?;
    let tmp2 = tmp.clone();
    let result = images
        .layers
        .unpack_checked(Shared(tee), Some(&job.diff_id), move || {
            let mut t = check_tee.borrow_mut();
            io::copy(&mut *t, &mut io::sink()).ctx(|| format!("fetch blob {digest}"))?;
            let got = format!("sha256:{}", hex::encode(t.hasher.clone().finalize()));
            if got != digest {
                return Err(Error::invalid(format!(
                    "filesystem layer verification failed for digest {digest}: got {got}"
                )));
            }
            if t.count != size {
                return Err(Error::invalid(format!(
                    "filesystem layer {digest}: expected {size} bytes, got {}",
                    t.count
                )));
            }
            t.file.sync_data().ctx(|| format!("fetch blob {digest}"))?;
            std::fs::rename(&tmp2, &dest).ctx(|| format!("fetch blob {digest}"))?;
            Ok(())
        });
    let _ = std::fs::remove_file(&tmp);
    match result {
        Ok(_) => {
            ev("Verifying Checksum", None);
            ev("Download complete", None);
            ev("Pull complete", None);
            Ok(reference)
        }
        Err(e) if e.message.starts_with("layer diff id mismatch") => Err(Error::invalid(format!(
            "filesystem layer verification failed for digest {}: {}",
            job.digest, e.message
        ))),
        Err(e) => Err(e),
    }
}

/// Pulls `reference` into `images`, tagging it (and recording its digest reference); ends
/// with Docker's `Digest:` and `Status:` lines.
pub fn pull(
    root: &Root,
    images: &ImageStore,
    reference: &Reference,
    opts: &PullOptions,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<PullResult> {
    let config = RegistryConfig::load()?;
    let platform = parse_platform(opts.platform.as_deref())?;
    if reference.registry() == "docker.io" {
        // Mirrors first, as Docker does; any failure there falls through to Hub itself.
        for m in &config.mirrors {
            let quiet = |_: PullEvent| {};
            let c = Client::for_mirror(m, reference.repository(), &config)?;
            if let Ok(res) = pull_from(&c, root, images, reference, &platform, &quiet) {
                return Ok(done(reference, res, progress));
            }
        }
    }
    let mut c = Client::new(reference, &config)?;
    if let Some(creds) = &opts.credentials {
        c = c.with_credentials(creds.clone());
    }
    let res = pull_from(&c, root, images, reference, &platform, progress)?;
    Ok(done(reference, res, progress))
}

fn done(
    reference: &Reference,
    res: PullResult,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> PullResult {
    progress(PullEvent::Status(format!("Digest: {}", res.digest)));
    let what = if res.downloaded {
        "Downloaded newer image"
    } else {
        "Image is up to date"
    };
    progress(PullEvent::Status(format!(
        "Status: {what} for {}",
        reference.familiar()
    )));
    res
}

fn pull_from(
    c: &Client,
    root: &Root,
    images: &ImageStore,
    reference: &Reference,
    platform: &Platform,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<PullResult> {
    let wanted = reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_string();
    progress(PullEvent::Status(format!(
        "{wanted}: Pulling from {}",
        reference.repository()
    )));
    let (body, digest, header_mt) = fetch_manifest(c, &wanted)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("invalid manifest for {wanted}: {e}")))?;
    let mut read = read_manifest(&v, &header_mt, platform)?;
    if let Manifest::Index { digest: d, .. } = &read {
        let (b, _, h) = fetch_manifest(c, d)?;
        let v: Value = serde_json::from_slice(&b)
            .map_err(|e| Error::invalid(format!("invalid manifest {d}: {e}")))?;
        read = read_manifest(&v, &h, platform)?;
    }
    let manifest = match read {
        Manifest::Image(m) => m,
        // An index that points at another index is as unsupported as an unknown type.
        Manifest::Index { media_type: mt, .. } | Manifest::Unsupported(mt) => {
            return Err(Error::invalid(format!(
                "unsupported manifest media type {mt} for {}",
                reference.familiar()
            )))
        }
    };
    let cfg_digest = manifest.config_digest.clone();
    let cfg_size = manifest.config_size;
    let _op = root.begin("pull")?;
    // The image may be complete here already: then nothing is fetched. Checked under the
    // images lock, so an `rmi` cannot take it away between the check and the tag.
    if let Ok(rec) = images.get(&cfg_digest) {
        let _l = images.lock()?;
        if images.get(&cfg_digest).is_ok() && images.missing(&rec.layers).is_empty() {
            // Docker says "up to date" only when the name already meant this image.
            let already = images
                .resolve(&reference.to_string())
                .is_ok_and(|r| r.id == rec.id);
            tag_pulled(images, reference, &rec.id, &digest, &body)?;
            return Ok(PullResult {
                id: rec.id,
                digest,
                downloaded: !already,
            });
        }
    }
    let cfg_bytes = {
        let url = c.url(&format!("blobs/{cfg_digest}"))?;
        let mut reply = c.send("GET", &url, &c.pull_scope(), &[], None)?;
        if reply.status >= 300 {
            return Err(c.status_error(&format!("fetch config {cfg_digest}"), reply));
        }
        if cfg_size.is_some_and(|n| n > MAX_CONFIG) {
            return Err(Error::invalid(format!(
                "image config {cfg_digest} is {} bytes, more than the {} MiB accepted",
                cfg_size.unwrap_or(0),
                MAX_CONFIG >> 20
            )));
        }
        let body = reply.body.with_config().limit(MAX_CONFIG).reader();
        let (d, _) = images.content.ingest(body, Some(&cfg_digest), cfg_size)?;
        images.content.read(&d)?
    };
    let cfg: ImageConfig = serde_json::from_slice(&cfg_bytes)
        .map_err(|e| Error::invalid(format!("invalid image config {cfg_digest}: {e}")))?;
    let jobs = manifest.layer_jobs(&cfg.rootfs.diff_ids)?;
    for j in &jobs {
        if !(images.layers.exists(&j.diff_id) && images.content.exists(&j.digest)) {
            progress(PullEvent::Layer {
                id: short(&j.digest),
                status: "Pulling fs layer".into(),
                progress: None,
            });
        }
    }
    let mut layers = fetch_all(c, root, images, &cfg_digest, &jobs, progress)?;
    // A layer taken as "Already exists" may have been deleted since by an `rmi` or prune of
    // another image: checked again under the images lock, the image is recorded only whole,
    // and what went missing is fetched again.
    let mut tries = 0;
    let id = loop {
        let l = images.lock()?;
        let missing: Vec<usize> = (0..layers.len())
            .filter(|&i| !images.missing(&layers[i..=i]).is_empty())
            .collect();
        if missing.is_empty() {
            let id = images.put(&cfg_bytes, layers)?;
            tag_pulled(images, reference, &id, &digest, &body)?;
            break id;
        }
        drop(l);
        tries += 1;
        if tries > 3 {
            return Err(Error::conflict(format!(
                "the layers of {} kept being removed while it was pulled; try again",
                reference.familiar()
            )));
        }
        let again: Vec<LayerJob> = missing.iter().map(|&i| jobs[i].clone()).collect();
        let fetched = fetch_all(c, root, images, &cfg_digest, &again, progress)?;
        for (i, l) in missing.into_iter().zip(fetched) {
            layers[i] = l;
        }
    };
    crate::events::emit(root, "image", "pull", &reference.to_string(), &[]);
    Ok(PullResult {
        id,
        digest,
        downloaded: true,
    })
}

/// Fetches `jobs`' layers at once, each in its own thread and directory (Docker fetches three
/// at a time and unpacks one after another); on a failure, what this pull fetched is dropped.
fn fetch_all(
    c: &Client,
    root: &Root,
    images: &ImageStore,
    cfg_digest: &str,
    jobs: &[LayerJob],
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<Vec<LayerRef>> {
    let slots: Vec<std::sync::Mutex<Option<Result<LayerRef>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        // Up to MAX_PARALLEL layers at once: enough to overlap every small image's layers and
        // keep the big ones streaming, without a connection per layer for 100-layer images.
        for _ in 0..jobs.len().min(MAX_PARALLEL) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(j) = jobs.get(i) else { break };
                *slots[i].lock().unwrap() = Some(fetch_layer(c, root, images, j, progress));
            });
        }
    });
    let results: Vec<Result<LayerRef>> = slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or(None)
                .unwrap_or_else(|| Err(Error::internal("layer download thread panicked")))
        })
        .collect();
    if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
        let e = Error::new(e.kind, e.message.clone());
        discard(images, cfg_digest, &results);
        return Err(e);
    }
    Ok(results.into_iter().map(|r| r.expect("checked")).collect())
}

/// A failed pull keeps nothing: the config and the layers it fetched that no image uses.
fn discard(images: &ImageStore, cfg_digest: &str, results: &[Result<LayerRef>]) {
    let _l = images.lock();
    let all = images.list();
    if images.get(cfg_digest).is_err() {
        let _ = images.content.delete(cfg_digest);
    }
    for l in results.iter().flatten() {
        if !all
            .iter()
            .any(|i| i.layers.iter().any(|x| x.diff_id == l.diff_id))
        {
            let _ = images.layers.remove(&l.diff_id);
        }
        if !all
            .iter()
            .any(|i| i.layers.iter().any(|x| x.blob == l.blob))
        {
            let _ = images.content.delete(&l.blob);
        }
    }
}

/// Names the pulled image by its reference and its manifest digest, keeping the manifest; the
/// caller holds the images lock.
fn tag_pulled(
    images: &ImageStore,
    reference: &Reference,
    id: &str,
    digest: &str,
    manifest: &[u8],
) -> Result<()> {
    images.content.write(manifest)?;
    if reference.digest().is_none() {
        images.tag_locked(id, reference)?;
    }
    let by_digest = Reference::parse(&format!("{}@{digest}", reference.name()))
        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    images.tag_locked(id, &by_digest)
}
