//! Images in and out of tar archives: `import` (a root file system tarball becomes a one-layer
//! image), `load` (docker-archive or OCI layout) and `save` (both layouts in one tarball, which
//! `docker load` and `berth load` read).

use super::{ImageConfig, ImageStore, LayerRef, RootFs};
use crate::content::digest_hex;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::rooted::{Opened, Rooted};
use crate::store;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

const MT_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const MT_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MT_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// One image of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveImage {
    /// The config's path in the archive.
    pub config: String,
    /// The layers' paths in the archive, bottom first.
    pub layers: Vec<String>,
    /// The names to tag the image with, as written.
    pub tags: Vec<String>,
}

/// Reads a docker-archive's `manifest.json`: every entry must name its config.
pub fn parse_docker_manifest(data: &[u8]) -> Result<Vec<ArchiveImage>> {
    let manifest: Vec<Value> = serde_json::from_slice(data)
        .map_err(|e| Error::invalid(format!("invalid archive: manifest.json: {e}")))?;
    manifest
        .iter()
        .map(|entry| {
            let config = entry["Config"]
                .as_str()
                .ok_or_else(|| Error::invalid("invalid archive: manifest entry without Config"))?;
            Ok(ArchiveImage {
                config: config.to_string(),
                layers: store::json_strings(&entry["Layers"]),
                tags: store::json_strings(&entry["RepoTags"]),
            })
        })
        .collect()
}

/// The cleaned path of the archive member `rel`; absolute names and names that climb out are
/// refused, since a manifest may name any file.
pub fn member_path(rel: &str) -> Result<String> {
    crate::rooted::clean_inside(rel)
        .filter(|c| !c.is_empty() && !rel.starts_with('/'))
        .ok_or_else(|| Error::invalid(format!("invalid archive: path {rel:?} escapes the archive")))
}

/// The media type of a layer blob, from its first bytes.
fn sniff_media_type(path: &Path) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).ctx(|| format!("open {}", path.display()))?;
    let n = f
        .read(&mut head)
        .ctx(|| format!("read {}", path.display()))?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => MT_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => MT_LAYER_ZSTD,
        _ => MT_LAYER_TAR,
    })
}

impl ImageStore {
    /// Stores a layer blob from `path` and unpacks it; `expected_diff` is checked when given.
    fn add_layer_file(
        &self,
        path: &Path,
        expected_blob: Option<&str>,
        expected_diff: Option<&str>,
    ) -> Result<LayerRef> {
        let media_type = sniff_media_type(path)?;
        let f = File::open(path).ctx(|| format!("open {}", path.display()))?;
        let (blob, blob_size) = self.content.ingest(f, expected_blob, None)?;
        let info = self
            .layers
            .unpack(self.content.open(&blob)?, expected_diff)?;
        Ok(LayerRef {
            diff_id: info.diff_id,
            blob,
            media_type: media_type.into(),
            blob_size,
        })
    }

    /// `docker import`: the tarball from `reader` becomes the single layer of a new image with
    /// `config` as its run defaults; tagged `tag` when given. Returns the image id.
    pub fn import(
        &self,
        reader: impl Read,
        config: super::ContainerConfig,
        source: &str,
        message: Option<&str>,
        tag: Option<&Reference>,
    ) -> Result<String> {
        let _op = self.root.begin("import")?;
        let tmp = self.root_temp("import");
        let result = (|| {
            let mut f = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            let mut r = reader;
            std::io::copy(&mut r, &mut f).ctx(|| format!("read {source}"))?;
            drop(f);
            let layer = self.add_layer_file(&tmp, None, None)?;
            let now = store::now_rfc3339();
            let cfg = ImageConfig {
                architecture: super::config::host_arch().into(),
                os: "linux".into(),
                created: Some(now.clone()),
                config,
                rootfs: RootFs {
                    typ: "layers".into(),
                    diff_ids: vec![layer.diff_id.clone()],
                },
                history: vec![super::History {
                    created: Some(now),
                    created_by: None,
                    comment: Some(
                        message
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("Imported from {source}")),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
            let _l = self.lock()?;
            let id = self.put(&bytes, vec![layer])?;
            crate::events::emit(&self.root, "image", "import", &id, &[]);
            if let Some(t) = tag {
                self.tag_locked(&id, t)?;
            }
            Ok(id)
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    fn root_temp(&self, what: &str) -> PathBuf {
        self.root.temp_path(what)
    }

    /// `docker load`: reads a docker-archive or OCI-layout tarball; returns, per image, the
    /// names it was tagged with (empty when untagged) and its id.
    pub fn load(&self, reader: impl Read) -> Result<Vec<(Vec<Reference>, String)>> {
        let _op = self.root.begin("load")?;
        let dir = self.root_temp("load");
        let result = (|| {
            fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
            let plain = crate::snapshot::unpack::decompress(BufReader::new(reader))
                .ctx(|| "read archive".into())?;
            // Unpacked and then read only inside the scratch directory: a symlink in the archive
            // (`l -> /etc`) resolves inside it, never to the host's files.
            crate::snapshot::unpack::unpack_layer(plain, &dir)
                .map_err(|e| Error::invalid(format!("invalid archive: {e}")))?;
            let root = Rooted::open(&dir).ctx(|| format!("open {}", dir.display()))?;
            if root.metadata("manifest.json", true).is_ok() {
                self.load_docker_archive(&root)
            } else if root.metadata("index.json", true).is_ok() {
                self.load_oci_layout(&root)
            } else {
                Err(Error::invalid("invalid archive: neither manifest.json nor index.json found (not a docker-archive or OCI layout)"))
            }
        })();
        let _ = store::make_writable_and_remove(&dir);
        for (_, id) in result.iter().flatten() {
            crate::events::emit(&self.root, "image", "load", id, &[]);
        }
        result
    }

    /// The archive's member `rel`, opened inside it; names that climb out are refused.
    fn member(dir: &Rooted, rel: &str) -> Result<Opened> {
        let clean = member_path(rel)?;
        dir.opened(&clean)
            .map_err(|e| Error::invalid(format!("invalid archive: {rel}: {e}")))
    }

    /// The archive's JSON member `rel`.
    fn member_json<T: serde::de::DeserializeOwned>(dir: &Rooted, rel: &str) -> Result<T> {
        let data = dir
            .read(rel)
            .map_err(|e| Error::invalid(format!("invalid archive: {rel}: {e}")))?;
        serde_json::from_slice(&data)
            .map_err(|e| Error::invalid(format!("invalid archive: {rel}: {e}")))
    }

    fn load_docker_archive(&self, dir: &Rooted) -> Result<Vec<(Vec<Reference>, String)>> {
        let data = dir
            .read("manifest.json")
            .map_err(|e| Error::invalid(format!("invalid archive: manifest.json: {e}")))?;
        let mut out = Vec::new();
        for ArchiveImage {
            config: cfg_path,
            layers,
            tags,
        } in parse_docker_manifest(&data)?
        {
            let cfg_path = cfg_path.as_str();
            let cfg_bytes =
                fs::read(Self::member(dir, cfg_path)?.path()).ctx(|| format!("read {cfg_path}"))?;
            let held: Vec<Opened> = layers
                .iter()
                .map(|l| Self::member(dir, l))
                .collect::<Result<_>>()?;
            let paths: Vec<PathBuf> = held.iter().map(Opened::path).collect();
            let id = self.store_image(&cfg_bytes, &paths)?;
            let refs = self.apply_tags(&id, &tags)?;
            out.push((refs, id));
        }
        Ok(out)
    }

    fn load_oci_layout(&self, dir: &Rooted) -> Result<Vec<(Vec<Reference>, String)>> {
        let index: Value = Self::member_json(dir, "index.json")?;
        let mut out = Vec::new();
        for desc in index["manifests"].as_array().cloned().unwrap_or_default() {
            let (manifest, _) = self.resolve_oci_manifest(dir, &desc)?;
            let cfg_digest = manifest["config"]["digest"]
                .as_str()
                .ok_or_else(|| Error::invalid("invalid archive: manifest without config"))?;
            let cfg_bytes = self.read_oci_blob(dir, cfg_digest)?;
            let mut held = Vec::new();
            for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
                let d = l["digest"]
                    .as_str()
                    .ok_or_else(|| Error::invalid("invalid archive: layer without digest"))?;
                held.push(Self::member(
                    dir,
                    &format!("blobs/sha256/{}", digest_hex(d)?),
                )?);
            }
            let paths: Vec<PathBuf> = held.iter().map(Opened::path).collect();
            let id = self.store_image(&cfg_bytes, &paths)?;
            let ann = &desc["annotations"];
            let mut tags = Vec::new();
            if let Some(n) = ann["io.containerd.image.name"].as_str() {
                tags.push(n.to_string());
            } else if let Some(n) = ann["org.opencontainers.image.ref.name"].as_str() {
                // Either a bare tag (then unusable without a name) or a full reference.
                if n.contains('/') || n.contains(':') {
                    tags.push(n.to_string());
                }
            }
            let refs = self.apply_tags(&id, &tags)?;
            out.push((refs, id));
        }
        Ok(out)
    }

    fn read_oci_blob(&self, dir: &Rooted, digest: &str) -> Result<Vec<u8>> {
        let data = dir
            .read(&format!("blobs/sha256/{}", digest_hex(digest)?))
            .ctx(|| format!("invalid archive: blob {digest}"))?;
        let got = crate::content::sha256_digest(&data);
        if got != digest {
            return Err(Error::invalid(format!(
                "invalid archive: blob {digest} hashes to {got}"
            )));
        }
        Ok(data)
    }

    /// Follows an index to this host's platform until it reaches an image manifest.
    fn resolve_oci_manifest(&self, dir: &Rooted, desc: &Value) -> Result<(Value, String)> {
        let digest = desc["digest"]
            .as_str()
            .ok_or_else(|| Error::invalid("invalid archive: descriptor without digest"))?;
        let data = self.read_oci_blob(dir, digest)?;
        let v: Value = serde_json::from_slice(&data)
            .map_err(|e| Error::invalid(format!("invalid archive: {digest}: {e}")))?;
        let mt = v["mediaType"]
            .as_str()
            .or(desc["mediaType"].as_str())
            .unwrap_or(MT_MANIFEST);
        if mt == MT_INDEX || mt == MT_DOCKER_LIST || v.get("manifests").is_some() {
            let arch = super::config::host_arch();
            let host = crate::registry::manifest::Platform::host();
            let list = v["manifests"].as_array().cloned().unwrap_or_default();
            let pick = list
                .iter()
                .find(|m| host.matches(&m["platform"]))
                .or_else(|| list.iter().find(|m| m["platform"].is_null()))
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "no matching manifest for linux/{arch} in the archive"
                    ))
                })?;
            return self.resolve_oci_manifest(dir, pick);
        }
        if mt != MT_MANIFEST && mt != MT_DOCKER_MANIFEST {
            return Err(Error::invalid(format!(
                "invalid archive: unsupported media type {mt}"
            )));
        }
        Ok((v, digest.to_string()))
    }

    /// Verifies the config's diff ids against the layers, stores everything, returns the id.
    fn store_image(&self, cfg_bytes: &[u8], layer_paths: &[PathBuf]) -> Result<String> {
        let cfg: ImageConfig = serde_json::from_slice(cfg_bytes)
            .map_err(|e| Error::invalid(format!("invalid image config: {e}")))?;
        if cfg.rootfs.diff_ids.len() != layer_paths.len() {
            return Err(Error::invalid(format!(
                "invalid archive: config lists {} layers but the manifest has {}",
                cfg.rootfs.diff_ids.len(),
                layer_paths.len()
            )));
        }
        let mut layers = Vec::new();
        for (p, diff) in layer_paths.iter().zip(&cfg.rootfs.diff_ids) {
            layers.push(self.add_layer_file(p, None, Some(diff))?);
        }
        let _l = self.lock()?;
        self.put(cfg_bytes, layers)
    }

    fn apply_tags(&self, id: &str, tags: &[String]) -> Result<Vec<Reference>> {
        let mut refs = Vec::new();
        for t in tags {
            let r = Reference::parse(t)?;
            self.tag(id, &r)?;
            refs.push(r);
        }
        Ok(refs)
    }

    /// `docker save`: writes `images` (id, and the names to record for it) as one tarball with
    /// both a docker-archive `manifest.json` and an OCI `index.json`; layers go uncompressed,
    /// named by their diff ids, so both readers verify them.
    pub fn save(&self, images: &[(String, Vec<Reference>)], out: impl Write) -> Result<()> {
        let mut tb = tar::Builder::new(out);
        let mut written = std::collections::HashSet::new();
        let mut manifest = Vec::new();
        let mut index = Vec::new();
        let mtime = 0u64;
        let add =
            |tb: &mut tar::Builder<_>, name: &str, size: u64, data: &mut dyn Read| -> Result<()> {
                let mut h = tar::Header::new_ustar();
                h.set_size(size);
                h.set_mode(0o644);
                h.set_mtime(mtime);
                h.set_entry_type(tar::EntryType::Regular);
                tb.append_data(&mut h, name, data)
                    .ctx(|| format!("write {name}"))
            };
        let dir = |tb: &mut tar::Builder<_>, name: &str| -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_size(0);
            h.set_mode(0o755);
            h.set_entry_type(tar::EntryType::Directory);
            tb.append_data(&mut h, name, std::io::empty())
                .ctx(|| format!("write {name}"))
        };
        dir(&mut tb, "blobs/")?;
        dir(&mut tb, "blobs/sha256/")?;
        for (id, refs) in images {
            let rec = self.get(id)?;
            let cfg = self.content.read(id)?;
            let cfg_name = format!("blobs/sha256/{}", digest_hex(id)?);
            if written.insert(cfg_name.clone()) {
                add(&mut tb, &cfg_name, cfg.len() as u64, &mut &cfg[..])?;
            }
            let mut layer_names = Vec::new();
            let mut layer_descs = Vec::new();
            for l in &rec.layers {
                let name = format!("blobs/sha256/{}", digest_hex(&l.diff_id)?);
                let info = self.layers.info(&l.diff_id)?;
                if written.insert(name.clone()) {
                    let blob = self.content.open(&l.blob)?;
                    let mut plain = crate::snapshot::unpack::decompress(BufReader::new(blob))
                        .ctx(|| "read layer".into())?;
                    add(&mut tb, &name, info.size, &mut plain)?;
                }
                layer_descs.push(
                    json!({"mediaType": MT_LAYER_TAR, "digest": l.diff_id, "size": info.size}),
                );
                layer_names.push(name);
            }
            let oci_manifest = json!({
                "schemaVersion": 2,
                "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": id, "size": cfg.len()},
                "layers": layer_descs,
            });
            let mbytes =
                serde_json::to_vec(&oci_manifest).map_err(|e| Error::internal(e.to_string()))?;
            let mdigest = crate::content::sha256_digest(&mbytes);
            let mname = format!("blobs/sha256/{}", digest_hex(&mdigest)?);
            if written.insert(mname.clone()) {
                add(&mut tb, &mname, mbytes.len() as u64, &mut &mbytes[..])?;
            }
            let tags: Vec<String> = refs
                .iter()
                .filter(|r| r.tag().is_some())
                .map(|r| r.familiar())
                .collect();
            manifest.push(json!({"Config": cfg_name, "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) }, "Layers": layer_names}));
            let mut pushed = false;
            for r in refs.iter().filter(|r| r.tag().is_some()) {
                index.push(json!({
                    "mediaType": MT_MANIFEST, "digest": mdigest, "size": mbytes.len(),
                    "annotations": {"io.containerd.image.name": r.to_string(), "org.opencontainers.image.ref.name": r.tag()},
                }));
                pushed = true;
            }
            if !pushed {
                index.push(
                    json!({"mediaType": MT_MANIFEST, "digest": mdigest, "size": mbytes.len()}),
                );
            }
        }
        let m = serde_json::to_vec(&manifest).map_err(|e| Error::internal(e.to_string()))?;
        add(&mut tb, "manifest.json", m.len() as u64, &mut &m[..])?;
        let idx = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": index}),
        )
        .map_err(|e| Error::internal(e.to_string()))?;
        add(&mut tb, "index.json", idx.len() as u64, &mut &idx[..])?;
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        add(&mut tb, "oci-layout", layout.len() as u64, &mut &layout[..])?;
        tb.into_inner()
            .and_then(|mut w| w.flush())
            .ctx(|| "write archive".into())?;
        for (id, _) in images {
            crate::events::emit(&self.root, "image", "save", id, &[]);
        }
        Ok(())
    }
}
