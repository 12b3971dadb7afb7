//! `push`: upload the blobs a registry lacks (mounted from a sibling repository when it can,
//! monolithic or in chunks otherwise), then the manifest.

use super::pull::{short, PullEvent};
use super::{Client, RegistryConfig};
use crate::content::sha256_digest;
use crate::error::{Error, Result};
use crate::image::{ImageRecord, ImageStore};
use crate::reference::Reference;
use crate::store::Root;
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom};

/// Blobs above this size go up in PATCH chunks of this size.
const CHUNK: u64 = 32 << 20;

/// What a push left on the registry.
#[derive(Debug, Clone)]
pub struct PushResult {
    /// The manifest digest.
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: usize,
    /// The tag pushed.
    pub tag: String,
}

fn with_query(location: &str, q: &str) -> String {
    if location.contains('?') {
        format!("{location}&{q}")
    } else {
        format!("{location}?{q}")
    }
}

/// True when the registry already has the blob.
fn blob_exists(c: &Client, digest: &str) -> Result<bool> {
    let url = c.url(&format!("blobs/{digest}"))?;
    let reply = c.send("HEAD", &url, &c.push_scope(), &[], None)?;
    match reply.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(c.status_error(&format!("check blob {digest}"), reply)),
    }
}

/// Uploads one blob from `file`; tries a cross-repository mount from `mount_from` first.
fn upload(
    c: &Client,
    digest: &str,
    size: u64,
    mut file: std::fs::File,
    mount_from: Option<&str>,
) -> Result<bool> {
    let scope = c.push_scope();
    c.prime(&scope)?;
    let start = match mount_from {
        Some(from) => c.url(&format!("blobs/uploads/?mount={digest}&from={from}"))?,
        None => c.url("blobs/uploads/")?,
    };
    let reply = c.send("POST", &start, &scope, &[("Content-Length", "0")], None)?;
    if reply.status == 201 && mount_from.is_some() {
        return Ok(true);
    }
    if reply.status != 202 {
        return Err(c.status_error(&format!("start upload of {digest}"), reply));
    }
    let mut location = c.absolute(
        reply
            .header("location")
            .ok_or_else(|| Error::internal("registry gave no upload location"))?,
    )?;
    let dq = format!("digest={digest}");
    if size <= CHUNK {
        let len = size.to_string();
        let reply = c.send(
            "PUT",
            &with_query(&location, &dq),
            &scope,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", &len),
            ],
            Some(&mut file),
        )?;
        if reply.status != 201 {
            return Err(c.status_error(&format!("upload {digest}"), reply));
        }
        return Ok(false);
    }
    let mut offset = 0u64;
    while offset < size {
        let n = CHUNK.min(size - offset);
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("read blob", e))?;
        let mut part = (&mut file).take(n);
        let range = format!("{}-{}", offset, offset + n - 1);
        let len = n.to_string();
        let reply = c.send(
            "PATCH",
            &location,
            &scope,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
                ("Content-Length", &len),
            ],
            Some(&mut part),
        )?;
        if reply.status != 202 {
            return Err(c.status_error(&format!("upload chunk of {digest}"), reply));
        }
        if let Some(l) = reply.header("location") {
            location = c.absolute(l)?;
        }
        offset += n;
    }
    let reply = c.send(
        "PUT",
        &with_query(&location, &dq),
        &scope,
        &[("Content-Length", "0")],
        None,
    )?;
    if reply.status != 201 {
        return Err(c.status_error(&format!("finish upload of {digest}"), reply));
    }
    Ok(false)
}

/// A manifest this image was pulled or pushed with, if one is kept: pushing those exact bytes
/// keeps the digest across round trips.
fn kept_manifest(images: &ImageStore, rec: &ImageRecord) -> Option<Vec<u8>> {
    for r in images.refs_of(&rec.id) {
        let Some(d) = r.digest() else { continue };
        let Ok(bytes) = images.content.read(d) else {
            continue;
        };
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        if v["config"]["digest"] == rec.id.as_str() {
            return Some(bytes);
        }
    }
    None
}

fn build_manifest(images: &ImageStore, rec: &ImageRecord) -> Result<Vec<u8>> {
    let docker = rec
        .layers
        .iter()
        .all(|l| l.media_type.starts_with("application/vnd.docker."));
    let cfg_size = std::fs::metadata(images.content.path(&rec.id)?)
        .map(|m| m.len())
        .map_err(|e| Error::io("read image config", e))?;
    let (mt, cfg_mt) = if docker {
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        )
    } else {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        )
    };
    let layers: Vec<Value> = rec
        .layers
        .iter()
        .map(|l| json!({"mediaType": l.media_type, "size": l.blob_size, "digest": l.blob}))
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cfg_mt, "size": cfg_size, "digest": rec.id},
        "layers": layers,
    });
    serde_json::to_vec_pretty(&m).map_err(|e| Error::internal(e.to_string()))
}

/// Pushes the local image named `reference` to its registry.
pub fn push(
    root: &Root,
    images: &ImageStore,
    reference: &Reference,
    credentials: Option<&crate::registry::auth::Credentials>,
    progress: &(dyn Fn(PullEvent) + Sync),
) -> Result<PushResult> {
    // The manifest is stored before it is named: not an orphan meanwhile.
    let _op = root.begin("push")?;
    let rec = images.resolve(&reference.to_string()).map_err(|_| {
        Error::not_found(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_name()
        ))
    })?;
    let tag = reference.tag().unwrap_or("latest").to_string();
    progress(PullEvent::Status(format!(
        "The push refers to repository [{}]",
        reference.name()
    )));
    let config = RegistryConfig::load()?;
    let mut c = Client::new(reference, &config)?;
    if let Some(creds) = credentials {
        c = c.with_credentials(creds.clone());
    }
    // A sibling repository on the same registry that holds this image: blobs can be mounted.
    let sibling = images
        .refs_of(&rec.id)
        .into_iter()
        .find(|r| r.registry() == reference.registry() && r.repository() != reference.repository())
        .map(|r| r.repository().to_string());
    let ev = |id: &str, status: &str| {
        progress(PullEvent::Layer {
            id: id.into(),
            status: status.into(),
            progress: None,
        })
    };
    // Docker lists layers top first.
    for l in rec.layers.iter().rev() {
        ev(&short(&l.blob), "Preparing");
    }
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let hs: Vec<_> = rec
            .layers
            .iter()
            .rev()
            .map(|l| {
                let c = &c;
                let sibling = sibling.as_deref();
                s.spawn(move || -> Result<()> {
                    let id = short(&l.blob);
                    if blob_exists(c, &l.blob)? {
                        ev(&id, "Layer already exists");
                        return Ok(());
                    }
                    ev(&id, "Pushing");
                    let f = images.content.open(&l.blob)?;
                    if upload(c, &l.blob, l.blob_size, f, sibling)? {
                        ev(&id, &format!("Mounted from {}", sibling.unwrap_or("")));
                    } else {
                        ev(&id, "Pushed");
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::internal("upload thread panicked")))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    if !blob_exists(&c, &rec.id)? {
        let f = images.content.open(&rec.id)?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        upload(&c, &rec.id, size, f, None)?;
    }
    let manifest = match kept_manifest(images, &rec) {
        Some(m) => m,
        None => build_manifest(images, &rec)?,
    };
    let digest = sha256_digest(&manifest);
    let mt = serde_json::from_slice::<Value>(&manifest)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(String::from))
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
    let url = c.url(&format!("manifests/{tag}"))?;
    let scope = c.push_scope();
    c.prime(&scope)?;
    let len = manifest.len().to_string();
    let reply = c.send(
        "PUT",
        &url,
        &scope,
        &[("Content-Type", &mt), ("Content-Length", &len)],
        Some(&mut manifest.as_slice()),
    )?;
    if reply.status != 201 {
        return Err(c.status_error(&format!("push manifest {}", reference.familiar()), reply));
    }
    if let Some(d) = reply.header("docker-content-digest") {
        if d != digest {
            return Err(Error::internal(format!(
                "registry stored the manifest as {d}, expected {digest}"
            )));
        }
    }
    images.content.write(&manifest)?;
    {
        let _l = images.lock()?;
        let by_digest = Reference::parse(&format!("{}@{digest}", reference.name()))
            .map_err(|e| Error::internal(e.to_string()))?;
        images.tag_locked(&rec.id, &by_digest)?;
    }
    crate::events::emit(root, "image", "push", &reference.to_string(), &[]);
    Ok(PushResult {
        digest,
        size: manifest.len(),
        tag,
    })
}
