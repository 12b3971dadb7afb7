//! `history`, `rmi`, `image prune` and what `save` selects.

use crate::container::Status;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::Engine;

/// One step of an image's history, as `history` shows it.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    /// The image id, for the newest step only.
    pub id: Option<String>,
    /// RFC 3339.
    pub created: String,
    /// The instruction.
    pub created_by: String,
    /// Bytes its layer adds (0 for config-only steps).
    pub size: u64,
    /// Comment.
    pub comment: String,
    /// The image's tags, on the newest step.
    pub tags: Vec<String>,
}

impl Engine {
    /// `tag`: another name for the image `source` names; a digest cannot be a tag.
    pub fn tag_image(&self, source: &str, target: &Reference) -> Result<()> {
        if target.digest().is_some() {
            return Err(Error::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        let img = self.image(source)?;
        self.images.tag(&img.id, target)
    }

    /// `history`: the image's steps, newest first; only the newest has an id (Docker's
    /// `<missing>` for the others, whose images are not kept).
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let img = self.images.resolve(name)?;
        let cfg = self.images.config(&img.id)?;
        let mut sizes = img.layers.iter().map(|l| {
            self.images
                .layers
                .info(&l.diff_id)
                .map(|i| i.size)
                .unwrap_or(0)
        });
        let n = cfg.history.len();
        let tags: Vec<String> = self
            .images
            .refs_of(&img.id)
            .iter()
            .filter(|r| r.digest().is_none())
            .map(|r| r.familiar())
            .collect();
        let mut out: Vec<HistoryItem> = cfg
            .history
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let last = i + 1 == n;
                HistoryItem {
                    id: last.then(|| img.id.clone()),
                    created: h.created.clone().unwrap_or_default(),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    size: if h.empty_layer {
                        0
                    } else {
                        sizes.next().unwrap_or(0)
                    },
                    comment: h.comment.clone().unwrap_or_default(),
                    tags: if last { tags.clone() } else { Vec::new() },
                }
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    /// What `save NAME…` writes: each image once, with the names asked for (a name that is
    /// one of its tags) or all its names (an id).
    pub fn save_selection(&self, names: &[String]) -> Result<Vec<(String, Vec<Reference>)>> {
        let mut wanted: Vec<(String, Vec<Reference>)> = Vec::new();
        for name in names {
            let img = self.images.resolve(name)?;
            // Named by its id, an image is saved untagged (Docker's: `docker save <id>` loads
            // as "Loaded image ID").
            let hex = &img.id[img.id.find(':').map_or(0, |i| i + 1)..];
            let bare = name.strip_prefix("sha256:").unwrap_or(name);
            let by_id = bare.len() >= 12 && hex.starts_with(bare);
            let refs: Vec<Reference> = match Reference::parse(name) {
                _ if by_id => Vec::new(),
                Ok(r) if self.images.refs_of(&img.id).contains(&r) => vec![r],
                _ => self.images.refs_of(&img.id),
            };
            match wanted.iter_mut().find(|(id, _)| *id == img.id) {
                Some((_, v)) => v.extend(refs),
                None => wanted.push((img.id.clone(), refs)),
            }
        }
        Ok(wanted)
    }

    /// Containers (ids) whose image is `image_id`.
    pub fn containers_using(&self, image_id: &str) -> Vec<String> {
        self.containers
            .ids()
            .into_iter()
            .filter(|id| {
                self.containers
                    .record(id)
                    .map(|r| r.image == image_id)
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Docker's `rmi`: untags `name`, and deletes the image once no name is left; returns the
    /// lines Docker prints (`Untagged: …`, `Deleted: …`).
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<String>> {
        let img = self.images.resolve(name)?;
        let _l = self.images.lock()?;
        let refs = self.images.refs_of(&img.id);
        let by_ref = Reference::parse(name).ok().filter(|r| refs.contains(r));
        let users = self.containers_using(&img.id);
        let short = &img.id[7..19];
        let mut out = Vec::new();
        if let Some(r) = by_ref {
            // Digest references (from pull/push) do not keep an image alive on their own: the
            // last tag of a repository takes that repository's digest references with it.
            let others: Vec<&Reference> = refs.iter().filter(|x| **x != r).collect();
            let other_tags = others.iter().any(|x| x.digest().is_none());
            if other_tags || (r.digest().is_some() && !others.is_empty()) {
                self.images.untag_locked(&r)?;
                out.push(format!("Untagged: {}", r.familiar()));
                let repo_tag_left = others
                    .iter()
                    .any(|x| x.digest().is_none() && x.name() == r.name());
                if r.digest().is_none() && !repo_tag_left {
                    for d in others
                        .iter()
                        .filter(|x| x.digest().is_some() && x.name() == r.name())
                    {
                        self.images.untag_locked(d)?;
                        out.push(format!("Untagged: {}", d.familiar()));
                    }
                }
                return Ok(out);
            }
            if !users.is_empty() && !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {short}",
                    &users[0][..12]
                )));
            }
            self.images.untag_locked(&r)?;
            out.push(format!("Untagged: {}", r.familiar()));
            for d in others {
                self.images.untag_locked(d)?;
                out.push(format!("Untagged: {}", d.familiar()));
            }
        } else {
            let repos: std::collections::BTreeSet<String> = refs.iter().map(|r| r.name()).collect();
            if repos.len() > 1 && !force {
                return Err(Error::conflict(format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")));
            }
            if !users.is_empty() && !force {
                let running = users.iter().any(|c| {
                    self.state(c)
                        .map(|s| s.status == Status::Running)
                        .unwrap_or(false)
                });
                let what = if running {
                    "cannot delete"
                } else {
                    "unable to delete"
                };
                return Err(Error::conflict(format!(
                    "conflict: {what} {short} (must be forced) - image is being used by {}container {}",
                    if running { "running " } else { "stopped " },
                    &users[0][..12]
                )));
            }
            for r in &refs {
                self.images.untag_locked(r)?;
                out.push(format!("Untagged: {}", r.familiar()));
            }
        }
        if users.is_empty() {
            self.images.delete_locked(&img.id)?;
            out.push(format!("Deleted: {}", img.id));
            // The manifests kept from pulls and pushes go with the image.
            let names = self.images.all_refs();
            for d in refs.iter().filter_map(|r| r.digest()) {
                if !names.iter().any(|(r, _)| r.digest() == Some(d)) {
                    self.images.content.delete(d)?;
                }
            }
        }
        Ok(out)
    }

    /// Docker's `image prune`: deletes dangling images (with `all`, every image no container
    /// uses); returns the deleted ids and the bytes reclaimed.
    pub fn prune_images(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let _l = self.images.lock()?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for img in self.images.list() {
            let tagged = !self.images.refs_of(&img.id).is_empty();
            // Intermediate build images are the build cache: only `-a` takes them.
            if ((tagged || img.intermediate) && !all) || !self.containers_using(&img.id).is_empty()
            {
                continue;
            }
            bytes += self.images.size(&img);
            for r in self.images.refs_of(&img.id) {
                self.images.untag_locked(&r)?;
            }
            self.images.delete_locked(&img.id)?;
            out.push(img.id);
        }
        // What killed pulls, commits and removals left behind goes too.
        self.sweep_stray_temp();
        // (Skipped whole when some record cannot be read: nothing is judged unreferenced then.)
        for (o, size) in self.find_orphans().unwrap_or_default() {
            if self.remove_orphan(&o).is_ok() {
                bytes += size;
            }
        }
        Ok((out, bytes))
    }
}
