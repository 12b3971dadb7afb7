//! A stage being built: its state, its FROM image (scratch, local or pulled), its next image.

use super::short;
use crate::error::{Error, Result};
use crate::image::ImageConfig;
use crate::reference::Reference;
use crate::Engine;
use std::collections::BTreeMap;

/// One FROM's stage while its steps run.
pub(super) struct Stage {
    /// Its `AS` name, lowercased.
    pub(super) name: Option<String>,
    /// The image its last step made.
    pub(super) image: String,
    /// That image's config.
    pub(super) cfg: ImageConfig,
    /// The ARGs it declared, with their values.
    pub(super) args: BTreeMap<String, String>,
    /// What a shell-form RUN/CMD/ENTRYPOINT runs under (SHELL).
    pub(super) shell: Vec<String>,
}

impl Stage {
    /// What `$NAME` stands for in its instructions: its ARGs, overridden by its ENV.
    pub(super) fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.args.clone();
        for e in self.cfg.config.env.iter().flatten() {
            if let Some((k, x)) = e.split_once('=') {
                v.insert(k.to_string(), x.to_string());
            }
        }
        v
    }
}

impl Engine {
    /// The empty image `FROM scratch` starts from.
    pub(super) fn scratch_image(&self) -> Result<String> {
        let cfg = ImageConfig {
            architecture: crate::image::config::host_arch().into(),
            os: "linux".into(),
            rootfs: crate::image::RootFs {
                typ: "layers".into(),
                diff_ids: vec![],
            },
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
        let _l = self.images.lock()?;
        self.images.put_marked(&bytes, vec![], true)
    }

    /// A FROM image: the local one, else (or always with `--pull`) pulled from its registry,
    /// as Docker's classic builder does.
    pub(super) fn base_image(
        &self,
        name: &str,
        pull: bool,
        out: &mut dyn FnMut(&str),
    ) -> Result<String> {
        if !pull {
            if let Ok(i) = self.images.resolve(name) {
                return Ok(i.id);
            }
        }
        let reference = Reference::parse(name).map_err(|e| Error::invalid(e.to_string()))?;
        let lines = std::sync::Mutex::new(Vec::new());
        let res = self.pull(&reference, &Default::default(), &|e| match e {
            crate::registry::pull::PullEvent::Status(s) => lines.lock().unwrap().push(s),
            crate::registry::pull::PullEvent::Layer {
                id,
                status,
                progress: None,
            } => lines.lock().unwrap().push(format!("{id}: {status}")),
            _ => {}
        });
        for l in lines.into_inner().unwrap() {
            out(&format!("{l}\n"));
        }
        Ok(res?.id)
    }

    /// Moves the stage on to the image a step made.
    pub(super) fn advance(
        &self,
        st: &mut Stage,
        id: String,
        out: &mut dyn FnMut(&str),
    ) -> Result<()> {
        out(&format!(" ---> {}\n", short(&id)));
        st.cfg = self.images.config(&id)?;
        st.image = id;
        Ok(())
    }
}
