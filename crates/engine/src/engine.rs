//! The engine: one handle on a state root, safe to use from many processes at once. Its
//! operations live with their domain (`container/create.rs`, `network/connect.rs`, …), each
//! an `impl Engine` block of its own.

use crate::container::{self, ContainerRecord, ContainerStore, State, StateLock};
use crate::error::Result;
use crate::image::{ImageRecord, ImageStore};
use crate::reference::Reference;
use crate::store::Root;
use std::path::{Path, PathBuf};

/// Default PATH for containers whose image sets none (Docker's).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A handle on one state root.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The state root.
    pub root: Root,
    /// Images.
    pub images: ImageStore,
    /// Containers.
    pub containers: ContainerStore,
    /// Volumes.
    pub volumes: crate::volume::VolumeStore,
    /// Networks.
    pub networks: crate::network::NetworkStore,
    /// cgroup parent of containers (`berth`).
    pub cgroup_parent: String,
    /// The binary re-executed as shim (this executable by default).
    pub shim_binary: PathBuf,
}

impl Engine {
    /// Opens the state root at `root`, sweeping leftovers of crashed processes.
    pub fn open(root: &Path) -> Result<Engine> {
        crate::exec_root::check()?;
        let root = Root::open(root)?;
        root.sweep_temp();
        let shim_binary =
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        Ok(Engine {
            images: ImageStore::new(&root),
            containers: ContainerStore::new(&root),
            volumes: crate::volume::VolumeStore::new(&root),
            networks: crate::network::NetworkStore::new(&root),
            root,
            cgroup_parent: "berth".into(),
            shim_binary,
        })
    }

    /// Pulls `reference` from its registry (see [`crate::registry::pull`]).
    pub fn pull(
        &self,
        reference: &Reference,
        opts: &crate::registry::PullOptions,
        progress: &(dyn Fn(crate::registry::pull::PullEvent) + Sync),
    ) -> Result<crate::registry::PullResult> {
        crate::registry::pull::pull(&self.root, &self.images, reference, opts, progress)
    }

    /// Pushes the local image `reference` to its registry, with the stored credentials or
    /// those given.
    pub fn push(
        &self,
        reference: &Reference,
        credentials: Option<&crate::registry::auth::Credentials>,
        progress: &(dyn Fn(crate::registry::pull::PullEvent) + Sync),
    ) -> Result<crate::registry::PushResult> {
        crate::registry::push::push(&self.root, &self.images, reference, credentials, progress)
    }

    /// The tags of `reference`'s repository on its registry.
    pub fn list_tags(&self, reference: &Reference) -> Result<Vec<String>> {
        let cfg = crate::registry::RegistryConfig::load()?;
        crate::registry::Client::new(reference, &cfg)?.tags()
    }

    /// A container's record.
    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        self.containers.record(id)
    }

    /// Resolves a name, id or id prefix to a full id.
    pub fn resolve(&self, s: &str) -> Result<String> {
        self.containers.resolve(s)
    }

    /// The state, corrected if the container's shim died without recording an exit (kill -9):
    /// then whatever is left of the container is killed and it is marked exited.
    pub fn state(&self, id: &str) -> Result<State> {
        let st = self.containers.state_raw(id)?;
        if !st.status.is_live() || container::same_process(st.shim_pid, st.shim_start) {
            return Ok(st);
        }
        let lock = self.containers.lock(id)?;
        self.state_locked(&lock)
    }

    /// [`Engine::state`] for callers that hold the container's lock.
    pub(crate) fn state_locked(&self, lock: &StateLock) -> Result<State> {
        let id = lock.id();
        let mut st = self.containers.state_raw(id)?;
        if st.status.is_live() && !container::same_process(st.shim_pid, st.shim_start) {
            let cg =
                berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)));
            cg.signal_all(libc::SIGKILL);
            let _ = cg.destroy();
            crate::shim::own_cgroup_of(id).remove_if_empty();
            st.exited(137, false);
            st.error = "the container's shim died; the container was killed".into();
            self.containers.write_state(lock, &st)?;
            crate::network::detach(&self.root, &self.containers.dir(id), id);
        }
        Ok(st)
    }

    /// A running container's shim as one more attached client (Docker's attach).
    pub fn attach_stream(&self, id: &str) -> Result<std::os::unix::net::UnixStream> {
        crate::shim::connect(&self.containers.dir(id))
            .map_err(|e| crate::Error::conflict(format!("cannot attach to {id}: {e}")))
    }

    /// Gives a running container's terminal a new size (rows, columns); a container that is
    /// not running has none to resize.
    pub fn resize_tty(&self, id: &str, rows: u16, cols: u16) {
        if let Ok(mut s) = crate::shim::connect(&self.containers.dir(id)) {
            let mut p = rows.to_be_bytes().to_vec();
            p.extend_from_slice(&cols.to_be_bytes());
            let _ = crate::shim::write_frame(&mut s, crate::shim::FRAME_RESIZE, &p);
        }
    }

    /// The container's attachment to its first network (its address and published ports),
    /// while it has one.
    pub fn network_attachment(&self, id: &str) -> Option<crate::network::Attachment> {
        crate::network::read_attachment(&self.containers.dir(id))
    }

    /// Every container with its state, newest first.
    pub fn list(&self) -> Vec<(ContainerRecord, State)> {
        let mut v: Vec<(ContainerRecord, State)> = self
            .containers
            .ids()
            .into_iter()
            .filter_map(|id| {
                let r = self.containers.record(&id).ok()?;
                let s = self.state(&id).ok()?;
                if r.abandoned_build_step() && !s.status.is_live() {
                    let _ = self.remove(&id, true, true);
                    return None;
                }
                Some((r, s))
            })
            .collect();
        v.sort_by(|a, b| b.0.created.cmp(&a.0.created));
        v
    }

    /// Records a container event with Docker's attributes (image, name) and `extra`.
    pub fn emit(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, &str)]) {
        let mut attrs: Vec<(&str, &str)> = vec![
            ("image", rec.config.image.as_str()),
            ("name", rec.name.as_str()),
        ];
        attrs.extend_from_slice(extra);
        crate::events::emit(&self.root, "container", action, &rec.id, &attrs);
    }

    /// The container's cgroup.
    pub fn cgroup(&self, id: &str) -> berth_runtime::Cgroup {
        berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)))
    }

    /// An image by name or id.
    pub fn image(&self, name: &str) -> Result<ImageRecord> {
        self.images.resolve(name)
    }
}
