//! Image records and names: which config and layers make an image, and which references
//! (`docker.io/library/busybox:latest`, `...@sha256:`) point at it.
//!
//! An image's id is the digest of its config blob, as in Docker. Records live in
//! `images/<hex>.json`; the name table in `repositories.json`, changed only under the `images`
//! lock and always rewritten atomically.

pub mod archive;
pub mod config;
pub mod filter;
pub mod list;
pub mod manage;

use crate::content::{digest_hex, ContentStore};
use crate::error::{Error, Result};
use crate::reference::{looks_like_id, Reference};
use crate::snapshot::LayerStore;
use crate::store::{self, Lock, Root};
pub use config::{ContainerConfig, History, ImageConfig, RootFs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;

/// One layer of an image: its diff id and where its original blob is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRef {
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Digest of the blob as received (compressed or not), in the content store.
    pub blob: String,
    /// Media type of that blob.
    pub media_type: String,
    /// Size of that blob.
    pub blob_size: u64,
}

/// What berth keeps about an image beside its config blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// "sha256:<hex of config>".
    pub id: String,
    /// Layers, bottom first, matching the config's diff ids.
    pub layers: Vec<LayerRef>,
    /// When the image arrived here.
    pub loaded_at: String,
    /// A build's intermediate step: hidden from `images` (unless `-a`) and kept by a plain
    /// `image prune` as the build cache.
    #[serde(default)]
    pub intermediate: bool,
    /// The image this one was made from here (commit, build steps), as Docker's `Parent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ImageRecord {
    /// The diff ids, bottom first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }
}

/// The name table: full reference string → image id.
type Repositories = BTreeMap<String, String>;

/// Images of one root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: Root,
    /// Blobs: configs and layer blobs.
    pub content: ContentStore,
    /// Unpacked layers.
    pub layers: LayerStore,
}

impl ImageStore {
    /// The image store of `root`.
    pub fn new(root: &Root) -> Self {
        ImageStore {
            root: root.clone(),
            content: ContentStore::new(root),
            layers: LayerStore::new(root),
        }
    }

    /// Serialises changes to images and names across processes.
    pub fn lock(&self) -> Result<Lock> {
        self.root.lock("images")
    }

    fn record_path(&self, id: &str) -> Result<std::path::PathBuf> {
        Ok(self
            .root
            .join("images")
            .join(format!("{}.json", digest_hex(id)?)))
    }

    fn repositories(&self) -> Repositories {
        store::read_json(&self.root.join("repositories.json")).unwrap_or_default()
    }

    fn write_repositories(&self, r: &Repositories) -> Result<()> {
        store::write_json(&self.root.join("repositories.json"), r)
    }

    /// Records an image whose config and layers are already stored; returns its id.
    pub fn put(&self, config_bytes: &[u8], layers: Vec<LayerRef>) -> Result<String> {
        self.put_marked(config_bytes, layers, false)
    }

    /// [`ImageStore::put`], marking a build's intermediate image; an image recorded again as a
    /// final one loses the mark.
    pub fn put_marked(
        &self,
        config_bytes: &[u8],
        layers: Vec<LayerRef>,
        intermediate: bool,
    ) -> Result<String> {
        self.put_child(config_bytes, layers, intermediate, None)
    }

    /// [`ImageStore::put_marked`] for an image made here from `parent` (commit, a build step).
    pub fn put_child(
        &self,
        config_bytes: &[u8],
        layers: Vec<LayerRef>,
        intermediate: bool,
        parent: Option<&str>,
    ) -> Result<String> {
        // Under the images lock (every caller holds it) an `rmi` or prune cannot run between
        // this check and the record: an image is never recorded with a layer gone.
        if let Some(l) = self.missing(&layers).first() {
            return Err(Error::conflict(format!(
                "layer {} was removed while this image was being stored (a concurrent rmi or prune); try again",
                l.diff_id
            )));
        }
        let id = self.content.write(config_bytes)?;
        let path = self.record_path(&id)?;
        if let Ok(mut rec) = store::read_json::<ImageRecord>(&path) {
            if rec.intermediate && !intermediate {
                rec.intermediate = false;
                store::write_json(&path, &rec)?;
            }
            return Ok(id);
        }
        let rec = ImageRecord {
            id: id.clone(),
            layers,
            loaded_at: store::now_rfc3339(),
            intermediate,
            parent: parent.map(String::from),
        };
        store::write_json(&path, &rec)?;
        Ok(id)
    }

    /// The layers of `layers` whose unpacked directory or blob is not stored (any more).
    pub fn missing<'a>(&self, layers: &'a [LayerRef]) -> Vec<&'a LayerRef> {
        layers
            .iter()
            .filter(|l| !(self.layers.exists(&l.diff_id) && self.content.exists(&l.blob)))
            .collect()
    }

    /// An image record by exact id.
    pub fn get(&self, id: &str) -> Result<ImageRecord> {
        let p = self.record_path(id)?;
        if !p.exists() {
            return Err(Error::image_not_found(format!("No such image: {id}")));
        }
        store::read_json(&p)
    }

    /// The parsed config of image `id`.
    pub fn config(&self, id: &str) -> Result<ImageConfig> {
        let raw = self.content.read(id)?;
        serde_json::from_slice(&raw)
            .map_err(|e| Error::internal(format!("image {id} has an invalid config: {e}")))
    }

    /// All image records.
    pub fn list(&self) -> Vec<ImageRecord> {
        let Ok(rd) = fs::read_dir(self.root.join("images")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| store::read_json(&e.path()).ok())
            .collect()
    }

    /// Every image record, failing on one that cannot be read: what deletes by "nothing
    /// refers to it" must never take an unreadable record for an absent one.
    pub fn list_strict(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images");
        let rd = fs::read_dir(&dir).map_err(|e| Error::io(format!("read {}", dir.display()), e))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::io(format!("read {}", dir.display()), e))?;
            if e.file_name().to_string_lossy().ends_with(".json") {
                out.push(store::read_json(&e.path())?);
            }
        }
        Ok(out)
    }

    /// The digests of the kept manifests (the name table's `@sha256:` references), failing when
    /// the table cannot be read.
    pub fn manifest_digests_strict(&self) -> Result<Vec<String>> {
        let p = self.root.join("repositories.json");
        let repos: Repositories = match fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Repositories::new(),
            _ => store::read_json(&p)?,
        };
        Ok(repos
            .keys()
            .filter_map(|k| k.rsplit_once('@').map(|(_, d)| d.to_string()))
            .collect())
    }

    /// Every reference that names image `id` (tags and digests), full form.
    pub fn refs_of(&self, id: &str) -> Vec<Reference> {
        self.repositories()
            .into_iter()
            .filter(|(_, v)| v == id)
            .filter_map(|(k, _)| Reference::parse_named(&k).ok())
            .collect()
    }

    /// The whole name table as parsed references.
    pub fn all_refs(&self) -> Vec<(Reference, String)> {
        self.repositories()
            .into_iter()
            .filter_map(|(k, v)| Reference::parse_named(&k).ok().map(|r| (r, v)))
            .collect()
    }

    /// Finds an image by reference, full id, or unique id prefix (as `docker` does).
    pub fn resolve(&self, s: &str) -> Result<ImageRecord> {
        let not_found = || Error::image_not_found(format!("No such image: {s}"));
        if let Ok(r) = Reference::parse(s) {
            if let Some(id) = self.repositories().get(&r.to_string()) {
                return self.get(id);
            }
        }
        if looks_like_id(s) {
            let hex = s.strip_prefix("sha256:").unwrap_or(s);
            let mut found = Vec::new();
            if let Ok(rd) = fs::read_dir(self.root.join("images")) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(h) = name.strip_suffix(".json") {
                        if h.starts_with(hex) {
                            found.push(format!("sha256:{h}"));
                        }
                    }
                }
            }
            return match found.len() {
                0 => Err(not_found()),
                1 => self.get(&found[0]),
                _ => Err(Error::invalid(format!(
                    "ambiguous image id prefix {s}: {} images match",
                    found.len()
                ))),
            };
        }
        Reference::parse(s)?;
        Err(not_found())
    }

    /// Points `reference` at image `id`, replacing what it pointed at. Caller holds the lock.
    pub fn tag_locked(&self, id: &str, reference: &Reference) -> Result<()> {
        let mut repos = self.repositories();
        repos.insert(reference.to_string(), id.to_string());
        self.write_repositories(&repos)?;
        crate::events::emit(
            &self.root,
            "image",
            "tag",
            id,
            &[("name", &reference.familiar())],
        );
        Ok(())
    }

    /// Points `reference` at image `id`.
    pub fn tag(&self, id: &str, reference: &Reference) -> Result<()> {
        let _l = self.lock()?;
        self.tag_locked(id, reference)
    }

    /// Removes a name; returns the image it pointed at. Caller holds the lock.
    pub fn untag_locked(&self, reference: &Reference) -> Result<Option<String>> {
        let mut repos = self.repositories();
        let old = repos.remove(&reference.to_string());
        if let Some(id) = &old {
            self.write_repositories(&repos)?;
            crate::events::emit(
                &self.root,
                "image",
                "untag",
                id,
                &[("name", &reference.familiar())],
            );
        }
        Ok(old)
    }

    /// Deletes image `id`'s record and config, and every layer no other image uses. Caller
    /// holds the lock and has checked that no container uses it.
    pub fn delete_locked(&self, id: &str) -> Result<()> {
        let rec = self.get(id)?;
        let mut repos = self.repositories();
        let before = repos.len();
        // Manifests kept from pulls and pushes, named by the image's digest references.
        let manifests: Vec<String> = repos
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .filter_map(|(k, _)| k.rsplit_once('@').map(|(_, d)| d.to_string()))
            .collect();
        repos.retain(|_, v| v != id);
        if repos.len() != before {
            self.write_repositories(&repos)?;
        }
        fs::remove_file(self.record_path(id)?)
            .map_err(|e| Error::io(format!("delete image {id}"), e))?;
        let others = self.list();
        for l in &rec.layers {
            let used = others
                .iter()
                .any(|o| o.layers.iter().any(|x| x.diff_id == l.diff_id));
            if !used {
                self.layers.remove(&l.diff_id)?;
            }
            let blob_used = others
                .iter()
                .any(|o| o.layers.iter().any(|x| x.blob == l.blob));
            if !blob_used {
                self.content.delete(&l.blob)?;
            }
        }
        self.content.delete(id)?;
        for m in manifests {
            let still_named = self.repositories().keys().any(|k| k.ends_with(&m));
            if !still_named {
                self.content.delete(&m)?;
            }
        }
        crate::events::emit(&self.root, "image", "delete", id, &[]);
        Ok(())
    }

    /// Total size of an image's layers (uncompressed), as `docker images` shows.
    pub fn size(&self, rec: &ImageRecord) -> u64 {
        rec.layers
            .iter()
            .map(|l| self.layers.info(&l.diff_id).map(|i| i.size).unwrap_or(0))
            .sum()
    }
}
