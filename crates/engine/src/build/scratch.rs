//! A step's build container: removed on every way out, or committed as the step's image.

use super::stage::Stage;
use crate::error::Result;
use crate::image::History;
use crate::Engine;

/// Removes a build container on every way out.
pub(super) struct Scratch<'a> {
    /// The engine that made it.
    pub(super) engine: &'a Engine,
    /// The container's id.
    pub(super) id: String,
}

impl<'a> Scratch<'a> {
    /// A created (never started) container of `image` whose root a step writes into.
    pub(super) fn of_image(engine: &'a Engine, image: String) -> Result<Scratch<'a>> {
        let id = engine.create(crate::CreateRequest {
            image,
            config: crate::image::ContainerConfig {
                cmd: Some(vec!["true".into()]),
                ..Default::default()
            },
            build_step: true,
            ..Default::default()
        })?;
        Ok(Scratch { engine, id })
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = self.engine.remove(&self.id, true, true);
    }
}

impl Engine {
    /// Commits a step's scratch container (its rw layer, the stage's config) as an intermediate
    /// image with one history entry, then removes the container.
    pub(super) fn commit_scratch(
        &self,
        st: &Stage,
        scratch: Scratch,
        created_by: String,
    ) -> Result<String> {
        let id = self.commit_layer(
            &scratch.id,
            false,
            st.cfg.config.clone(),
            None,
            History {
                created_by: Some(created_by),
                ..Default::default()
            },
            None,
            true,
        )?;
        drop(scratch);
        Ok(id)
    }
}
