//! `diff`, `export` and `commit`: reading a container's root as it is now.

use crate::container::ContainerRecord;
use crate::error::{Error, IoContext, Result};
use crate::image::ContainerConfig;
use crate::reference::Reference;
use crate::snapshot;
use crate::store::{self};
use crate::Engine;
use std::os::fd::{FromRawFd, RawFd};
use std::path::{Path, PathBuf};

/// What `commit` makes.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Name for the new image.
    pub reference: Option<Reference>,
    /// `-m`.
    pub message: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-c` Dockerfile instructions.
    pub changes: Vec<String>,
    /// Freeze the container while its layer is read (default true).
    pub pause: bool,
}

impl Engine {
    pub(crate) fn mount_destinations(rec: &ContainerRecord) -> Vec<String> {
        rec.mounts.iter().map(|m| m.destination.clone()).collect()
    }

    /// `docker diff`: the container's changes against its image.
    pub fn diff(&self, id: &str) -> Result<Vec<(snapshot::changes::Change, String)>> {
        let rec = self.record(id)?;
        let upper = self.containers.dir(id).join("upper");
        Ok(snapshot::changes::diff(
            &self.images.layers,
            &upper,
            &rec.layers,
            &Self::mount_destinations(&rec),
        ))
    }

    /// `docker export`: the container's whole root file system (without its volumes) as a tar
    /// written to `fd`.
    pub fn export(&self, id: &str, fd: RawFd) -> Result<()> {
        let rec = self.record(id)?;
        let dir = self.containers.dir(id);
        let skip: Vec<PathBuf> = Self::mount_destinations(&rec)
            .into_iter()
            .map(PathBuf::from)
            .collect();
        self.with_frozen(id, true, || {
            snapshot::in_private_rootfs(
                &self.images.layers,
                &rec.layers,
                &dir,
                &[fd],
                move |root| {
                    // SAFETY: the caller's descriptor, borrowed for the helper's lifetime.
                    let out =
                        std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
                    let mut b = tar::Builder::new(std::io::BufWriter::new(&*out));
                    b.follow_symlinks(false);
                    let mut entries: Vec<_> = std::fs::read_dir(root)
                        .map_err(|e| e.to_string())?
                        .flatten()
                        .collect();
                    entries.sort_by_key(|e| e.file_name());
                    for e in entries {
                        let name = PathBuf::from(e.file_name());
                        snapshot::changes::write_tree(&mut b, &e.path(), &name, &skip)
                            .map_err(|e| format!("export: {e}"))?;
                    }
                    b.into_inner()
                        .and_then(|mut w| std::io::Write::flush(&mut w))
                        .map_err(|e| format!("export: {e}"))
                },
            )
        })
    }

    /// `docker commit`: a new image whose top layer is exactly the container's changes.
    pub fn commit(&self, id: &str, req: &CommitRequest) -> Result<String> {
        let _op = self.root.begin("commit")?;
        let rec = self.record(id)?;
        let mut run = rec.config.clone();
        // The image gets the container's settings minus what belongs to this container only.
        run.hostname = String::new();
        run.domainname = String::new();
        run.image = String::new();
        run.attach_stdin = false;
        run.attach_stdout = false;
        run.attach_stderr = false;
        run.tty = false;
        run.open_stdin = false;
        run.stdin_once = false;
        for c in &req.changes {
            crate::image::config::apply_change(&mut run, c).map_err(Error::invalid)?;
        }
        let mut cmdline = vec![rec.path.clone()];
        cmdline.extend(rec.args.iter().cloned());
        let history = crate::image::History {
            created: None,
            created_by: Some(cmdline.join(" ")),
            author: req.author.clone(),
            comment: req.message.clone(),
            empty_layer: false,
        };
        let image = self.commit_layer(
            id,
            req.pause,
            run,
            req.author.clone(),
            history,
            req.reference.as_ref(),
            false,
        )?;
        self.emit(&rec, "commit", &[]);
        Ok(image)
    }

    /// The container's changes as a new top layer over its image, with run settings `run` and
    /// one more history entry; tagged `reference` when given. `intermediate` marks a build step.
    #[allow(clippy::too_many_arguments)] // commit and build each fill these differently
    pub(crate) fn commit_layer(
        &self,
        id: &str,
        pause: bool,
        run: ContainerConfig,
        author: Option<String>,
        mut history: crate::image::History,
        reference: Option<&Reference>,
        intermediate: bool,
    ) -> Result<String> {
        let rec = self.record(id)?;
        let dir = self.containers.dir(id);
        let skip = Self::mount_destinations(&rec);
        let tmp = self.root.temp_path("commit");
        let layer = self.with_frozen(id, pause, || {
            let f = std::fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            snapshot::changes::write_layer(&dir.join("upper"), &skip, std::io::BufWriter::new(f))
                .ctx(|| "write the container's layer".into())?;
            Ok(())
        });
        let result = layer.and_then(|()| {
            let f = std::fs::File::open(&tmp).ctx(|| "read layer".into())?;
            let (blob, blob_size) = self.images.content.ingest(f, None, None)?;
            let info = self
                .images
                .layers
                .unpack(self.images.content.open(&blob)?, None)?;
            let base = self.images.get(&rec.image)?;
            let mut cfg = self.images.config(&rec.image)?;
            cfg.config = run;
            let now = store::now_rfc3339();
            cfg.created = Some(now.clone());
            if author.is_some() {
                cfg.author = author;
            }
            history.created = Some(now);
            cfg.history.push(history);
            cfg.rootfs.diff_ids.push(info.diff_id.clone());
            let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
            let mut layers = base.layers.clone();
            layers.push(crate::image::LayerRef {
                diff_id: info.diff_id,
                blob,
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                blob_size,
            });
            let _l = self.images.lock()?;
            let image = self
                .images
                .put_child(&bytes, layers, intermediate, Some(&base.id))?;
            if let Some(r) = reference {
                self.images.tag_locked(&image, r)?;
            }
            Ok(image)
        });
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// Runs `f` on the container's root file system: a running container's own (frozen meanwhile,
    /// so no symlink can be swapped in under a path being resolved: CVE-2018-15664), a stopped
    /// one's mounted privately in a helper process.
    pub(crate) fn with_root(
        &self,
        id: &str,
        keep: &[RawFd],
        f: impl FnOnce(&Path) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status.is_live() {
            let root = PathBuf::from(format!("/proc/{}/root", st.pid));
            return self.with_frozen(id, true, || f(&root).map_err(Error::invalid));
        }
        // Volumes and binds as the container sees them (tmpfs mounts are empty while stopped).
        let mounts: Vec<snapshot::ShownMount> = rec
            .mounts
            .iter()
            .filter(|m| m.typ != crate::container::MountType::Tmpfs)
            .map(|m| snapshot::ShownMount {
                source: m.source.clone(),
                destination: m.destination.clone(),
                readonly: !m.rw,
            })
            .collect();
        snapshot::in_private_rootfs_with(
            &self.images.layers,
            &rec.layers,
            &self.containers.dir(id),
            keep,
            &mounts,
            f,
        )
    }

    /// Runs `f` on a stopped container's merged root (privately mounted in a helper process).
    pub(crate) fn with_stopped_root(
        &self,
        id: &str,
        f: impl FnOnce(&Path) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let rec = self.record(id)?;
        snapshot::in_private_rootfs(
            &self.images.layers,
            &rec.layers,
            &self.containers.dir(id),
            &[],
            f,
        )
    }
}
