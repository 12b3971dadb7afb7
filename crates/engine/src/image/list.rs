//! The image list for `images` and `GET /images/json` alike: which images show, with which of
//! their names, newest first.

use crate::error::Result;
use crate::image::filter::{created_of, ImageFilters};
use crate::image::{ImageConfig, ImageRecord};
use crate::Engine;

/// One image of the list.
#[derive(Debug, Clone)]
pub struct ListedImage {
    /// The image.
    pub record: ImageRecord,
    /// Its config.
    pub config: ImageConfig,
    /// Its tags as (familiar repository, tag) that pass the filters; empty when it has none.
    pub tags: Vec<(String, String)>,
    /// Its digest references (`repo@sha256:…`).
    pub digests: Vec<String>,
    /// Bytes of its layers.
    pub size: u64,
}

impl Engine {
    /// The images a list shows: a build's untagged intermediate steps (its cache) only with
    /// `all`, as Docker's; then Docker's filters (`dangling`, `label`, `before`, `since`,
    /// `reference`, which also narrows the names shown). Newest first.
    pub fn list_images(&self, all: bool, filters: &[(String, String)]) -> Result<Vec<ListedImage>> {
        let f = ImageFilters::parse(filters, |name| created_of(&self.images, name))?;
        let mut out = Vec::new();
        for record in self.images.list() {
            let refs = self.images.refs_of(&record.id);
            let mut tags: Vec<(String, String)> = refs
                .iter()
                .filter_map(|r| r.tag().map(|t| (r.familiar_name(), t.to_string())))
                .collect();
            let untagged = tags.is_empty();
            if record.intermediate && refs.is_empty() && !all {
                continue;
            }
            let Ok(config) = self.images.config(&record.id) else {
                continue;
            };
            let created = config.created.clone().unwrap_or_default();
            let labels = config.config.labels.clone().unwrap_or_default();
            if !f.keep_image(untagged, &created, &labels) {
                continue;
            }
            if f.by_reference() {
                tags.retain(|(repo, tag)| f.keep_name(repo, tag));
                if tags.is_empty() {
                    continue;
                }
            }
            let digests = refs
                .iter()
                .filter_map(|r| r.digest().map(|d| format!("{}@{d}", r.familiar_name())))
                .collect();
            let size = self.images.size(&record);
            out.push(ListedImage {
                record,
                config,
                tags,
                digests,
                size,
            });
        }
        out.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        Ok(out)
    }
}
