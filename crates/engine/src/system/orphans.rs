//! Orphans: layers and blobs no image, name or container needs, left by an operation killed
//! between storing them and recording the image (a pull, load, import, build or commit), or by
//! an `rmi` killed between removing the record and its layers. They are collected only once
//! they are older than every live operation, which may still be about to record them.

use crate::error::Result;
use crate::store;
use crate::Engine;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::SystemTime;

/// One orphaned thing in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orphan {
    /// An unpacked layer, by diff id.
    Layer(String),
    /// A blob, by digest.
    Blob(String),
}

impl Orphan {
    /// Where it lives.
    fn path(&self, engine: &Engine) -> Option<PathBuf> {
        match self {
            Orphan::Layer(d) => engine.images.layers.dir(d).ok(),
            Orphan::Blob(d) => engine.images.content.path(d).ok(),
        }
    }
}

impl std::fmt::Display for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Orphan::Layer(d) => write!(f, "orphaned layer {d}"),
            Orphan::Blob(d) => write!(f, "orphaned blob {d}"),
        }
    }
}

/// What every image, name and container of the root refers to.
pub(crate) struct Referenced {
    /// Diff ids of layers.
    pub layers: HashSet<String>,
    /// Digests of blobs: configs, layer blobs, kept manifests.
    pub blobs: HashSet<String>,
}

impl Engine {
    /// What the store's records refer to; read under the images lock to be exact. Any record
    /// that cannot be read is an error: then nothing may be judged unreferenced.
    pub(crate) fn referenced(&self) -> Result<Referenced> {
        let mut r = Referenced {
            layers: HashSet::new(),
            blobs: HashSet::new(),
        };
        for img in self.images.list_strict()? {
            r.blobs.insert(img.id.clone());
            for l in img.layers {
                r.layers.insert(l.diff_id);
                r.blobs.insert(l.blob);
            }
        }
        r.blobs.extend(self.images.manifest_digests_strict()?);
        // A container whose image was removed by force still runs on its layers.
        for id in self.containers.ids() {
            r.layers.extend(self.containers.record(&id)?.layers);
        }
        Ok(r)
    }

    /// The orphans older than every live operation; the caller holds the images lock.
    pub(crate) fn find_orphans(&self) -> Result<Vec<(Orphan, u64)>> {
        let refs = self.referenced()?;
        let cutoff = self.root.oldest_operation()?;
        let old_enough = |p: &std::path::Path| {
            let Some(cutoff) = cutoff else { return true };
            std::fs::symlink_metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff)
        };
        let mut out = Vec::new();
        for diff in self.images.layers.list() {
            if refs.layers.contains(&diff) {
                continue;
            }
            let o = Orphan::Layer(diff.clone());
            if o.path(self).is_some_and(|p| old_enough(&p)) {
                let size = self.images.layers.info(&diff).map(|i| i.size).unwrap_or(0);
                out.push((o, size));
            }
        }
        for digest in self.images.content.list() {
            if refs.blobs.contains(&digest) {
                continue;
            }
            let o = Orphan::Blob(digest);
            if let Some(p) = o.path(self).filter(|p| old_enough(p)) {
                let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                out.push((o, size));
            }
        }
        Ok(out)
    }

    /// Removes one orphan (the caller holds the images lock).
    pub(crate) fn remove_orphan(&self, o: &Orphan) -> Result<()> {
        match o {
            Orphan::Layer(d) => self.images.layers.remove(d),
            Orphan::Blob(d) => self.images.content.delete(d),
        }
    }

    /// Collects the orphans older than every live operation (an image prune does it too);
    /// returns what went and the bytes freed.
    pub fn collect_orphans(&self) -> Result<(Vec<Orphan>, u64)> {
        let _l = self.images.lock()?;
        self.root.sweep_temp();
        self.sweep_stray_temp();
        let mut gone = Vec::new();
        let mut bytes = 0;
        for (o, size) in self.find_orphans()? {
            // One that cannot go does not keep the others.
            if self.remove_orphan(&o).is_ok() {
                bytes += size;
                gone.push(o);
            }
        }
        Ok((gone, bytes))
    }
}

impl Engine {
    /// Removes the temp files killed atomic writes left beside records (a prune does it, and
    /// the daemon).
    pub fn sweep_stray_temp(&self) {
        for p in stray_temp_files(self) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Temp files that an atomic write (`.<name>.tmp-<pid>-<rand>`) left beside a record when its
/// process was killed, in the folders that hold records.
pub(crate) fn stray_temp_files(engine: &Engine) -> Vec<PathBuf> {
    let mut dirs = vec![
        engine.root.path().to_path_buf(),
        engine.root.join("images"),
        engine.root.join("networks"),
    ];
    for top in ["containers", "volumes", "networks"] {
        if let Ok(rd) = std::fs::read_dir(engine.root.join(top)) {
            dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    // Leases are written aside and linked into place, in their own folders.
    for net in engine.networks.list().unwrap_or_default() {
        dirs.push(engine.networks.leases(&net));
    }
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if store::is_dead_temp(&e.file_name().to_string_lossy()) {
                out.push(e.path());
            }
        }
    }
    out
}

/// True if `t` is older than `secs` seconds: runtime leftovers younger than that may belong to
/// a start still under way.
pub(crate) fn older_than(t: std::io::Result<SystemTime>, secs: u64) -> bool {
    t.ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e.as_secs() >= secs)
}
