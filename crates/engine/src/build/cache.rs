//! The build cache: a step's result images by parent image and instruction, in `cache/build/`.

use super::BuildRequest;
use crate::content::sha256_digest;
use crate::{store, Engine};
use std::path::{Path, PathBuf};

impl Engine {
    fn cache_path(&self, parent: &str, key: &str) -> PathBuf {
        let k = sha256_digest(format!("{parent}\n{key}").as_bytes());
        self.root.join("cache/build").join(&k[7..])
    }

    /// The cached result of step `key` over `parent`, unless the build asks for no cache; with
    /// `--cache-from`, only a result in one of those images' ancestry counts (Docker's rule).
    /// The newest result that still exists wins.
    pub(super) fn cache_get(&self, req: &BuildRequest, parent: &str, key: &str) -> Option<String> {
        if req.no_cache {
            return None;
        }
        let ids = std::fs::read_to_string(self.cache_path(parent, key)).ok()?;
        ids.lines()
            .rev()
            .filter_map(|id| self.images.get(id.trim()).ok().map(|r| r.id))
            .find(|id| req.cache_from.is_empty() || self.in_ancestry_of(&req.cache_from, id))
    }

    /// Whether image `id` is one of `names`' images or one they were made from here.
    fn in_ancestry_of(&self, names: &[String], id: &str) -> bool {
        names
            .iter()
            .filter_map(|n| self.images.resolve(n).ok())
            .any(|img| {
                // Bounded: a chain is as long as the builds that made it.
                std::iter::successors(Some(img.id), |c| {
                    self.images.get(c).ok().and_then(|r| r.parent)
                })
                .take(10_000)
                .any(|c| c == id)
            })
    }

    /// Records `id` as a result of step `key` over `parent`, after the earlier ones: a build
    /// with `--cache-from` looks for the result its images hold, not only the newest.
    pub(super) fn cache_put(&self, parent: &str, key: &str, id: &str) {
        /// Results kept per step.
        const KEPT: usize = 16;
        let p = self.cache_path(parent, key);
        let _ = std::fs::create_dir_all(p.parent().unwrap_or(Path::new("/")));
        let old = std::fs::read_to_string(&p).unwrap_or_default();
        let mut ids: Vec<&str> = old.lines().filter(|l| !l.is_empty() && *l != id).collect();
        ids.push(id);
        let keep = ids.len().saturating_sub(KEPT);
        let _ = store::write_replace(&p, ids[keep..].join("\n").as_bytes());
    }
}
