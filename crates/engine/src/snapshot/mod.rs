//! Layers on disk, ready for overlayfs.
//!
//! Terms: a *layer* is one image layer's changes, unpacked once into `layers/<diff-id hex>/diff`
//! and shared by every image that lists that diff id (a diff directory does not depend on the
//! layers beneath it: its whiteouts are overlay whiteouts, resolved at mount time). A container's
//! *rw layer* is its own `upper` and `work` directory. A container's root file system is an
//! overlay mount of the rw layer over the image's layers, made inside the container's mount
//! namespace so it vanishes with the container and never leaks onto the host.

pub mod unpack;

use crate::content::{digest_hex, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::store::{self, Root};
use berth_runtime::RootfsMount;
use std::fs;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Metadata kept beside an unpacked layer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub size: u64,
}

/// The unpacked layers of a root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: Root,
}

impl LayerStore {
    /// The layer store of `root`.
    pub fn new(root: &Root) -> Self {
        LayerStore { root: root.clone() }
    }

    /// Directory of a layer (holding `diff/` and `layer.json`).
    pub fn dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.root.layer_dir(digest_hex(diff_id)?))
    }

    /// True if the layer is unpacked.
    pub fn exists(&self, diff_id: &str) -> bool {
        self.dir(diff_id)
            .map(|d| d.join("layer.json").exists())
            .unwrap_or(false)
    }

    /// Layer metadata.
    pub fn info(&self, diff_id: &str) -> Result<LayerInfo> {
        store::read_json(&self.dir(diff_id)?.join("layer.json"))
    }

    /// Unpacks a layer stream (gzip, zstd or plain tar) into a temp directory, checks its diff
    /// id against `expected`, then renames it into place. A layer already present is not
    /// unpacked again; a failed or interrupted unpack leaves only temp files.
    pub fn unpack<R: Read>(&self, reader: R, expected: Option<&str>) -> Result<LayerInfo> {
        if let Some(d) = expected {
            if self.exists(d) {
                return self.info(d);
            }
        }
        let tmp = self.root.temp_path("layer");
        let result = (|| -> Result<LayerInfo> {
            let diff = tmp.join("diff");
            fs::create_dir_all(&diff).ctx(|| format!("create {}", diff.display()))?;
            let plain = unpack::decompress(BufReader::with_capacity(256 * 1024, reader))
                .ctx(|| "read layer".into())?;
            let mut hr = HashingReader::new(plain);
            unpack::unpack_layer(&mut hr, &diff)?;
            let (diff_id, size) = hr.finish().ctx(|| "read layer".into())?;
            if let Some(want) = expected {
                if want != diff_id {
                    return Err(Error::invalid(format!(
                        "layer diff id mismatch: expected {want}, got {diff_id}"
                    )));
                }
            }
            let info = LayerInfo {
                diff_id: diff_id.clone(),
                size,
            };
            store::write_json(&tmp.join("layer.json"), &info)?;
            let dest = self.dir(&diff_id)?;
            if let Err(e) = fs::rename(&tmp, &dest) {
                // Someone else unpacked the same layer meanwhile: theirs is as good as ours.
                if !dest.join("layer.json").exists() {
                    return Err(Error::io(format!("store layer {diff_id}"), e));
                }
                let _ = store::make_writable_and_remove(&tmp);
            }
            Ok(info)
        })();
        if result.is_err() {
            let _ = store::make_writable_and_remove(&tmp);
        }
        result
    }

    /// Deletes a layer; its directory is first renamed into tmp so a crash mid-delete never
    /// leaves a half-deleted layer under its real name.
    pub fn remove(&self, diff_id: &str) -> Result<()> {
        let dir = self.dir(diff_id)?;
        if !dir.exists() {
            return Ok(());
        }
        let tmp = self.root.temp_path("rmlayer");
        fs::rename(&dir, &tmp).ctx(|| format!("remove layer {diff_id}"))?;
        store::make_writable_and_remove(&tmp).ctx(|| format!("remove layer {diff_id}"))
    }

    /// All diff ids present.
    pub fn list(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.root.join("layers")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.path().join("layer.json").exists())
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .collect()
    }

    /// Overlay mount for a container whose rw layer is in `dir` (`upper`, `work`), over
    /// `layers` listed bottom to top. `lowerdir` is relative to the layers directory and the
    /// mount is made from there, so a long image still fits mount(2)'s one-page limit.
    pub fn overlay(&self, layers: &[String], dir: &Path) -> Result<RootfsMount> {
        let mut lowers = Vec::new();
        for l in layers.iter().rev() {
            lowers.push(format!("{}/diff", digest_hex(l)?));
        }
        if lowers.is_empty() {
            // overlayfs needs a lower directory even for an image with no layers.
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).ctx(|| format!("create {}", empty.display()))?;
            lowers.push(empty.display().to_string());
        }
        Ok(RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowers.join(":")),
                format!("upperdir={}", dir.join("upper").display()),
                format!("workdir={}", dir.join("work").display()),
            ],
            chdir: Some(self.root.join("layers")),
        })
    }

    /// Reads `path` (absolute, inside the image) from the rw layer `upper` over `layers`
    /// (bottom to top) without mounting anything: the topmost layer that has it or deletes it wins.
    pub fn read_file(
        &self,
        upper: Option<&Path>,
        layers: &[String],
        path: &str,
    ) -> Option<Vec<u8>> {
        let rel = path.trim_start_matches('/');
        let mut dirs: Vec<PathBuf> = upper.map(|u| u.to_path_buf()).into_iter().collect();
        for l in layers.iter().rev() {
            dirs.push(self.dir(l).ok()?.join("diff"));
        }
        for d in dirs {
            let p = d.join(rel);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_file() => return fs::read(&p).ok(),
                Ok(m) => {
                    use std::os::unix::fs::FileTypeExt;
                    if m.file_type().is_char_device() {
                        return None; // an overlay whiteout: deleted in this layer
                    }
                    return None;
                }
                Err(_) => continue,
            }
        }
        None
    }
}

/// Creates a container's rw layer directories under `dir`.
pub fn prepare_rw(dir: &Path) -> Result<()> {
    for sub in ["upper", "work", "rootfs"] {
        fs::create_dir_all(dir.join(sub)).ctx(|| format!("create {}", dir.join(sub).display()))?;
    }
    Ok(())
}
