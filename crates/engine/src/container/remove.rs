//! `rm`, `rename`, link removal and `container prune`.

use crate::container::stop::signal_pid;
use crate::container::{names, ContainerRecord, HostConfig, Status};
use crate::dir_size;
use crate::error::{Error, Result};
use crate::Engine;
use std::path::Path;
use std::time::Duration;

/// Renames linked container `old` to `new` in the stored links; true when one changed.
pub(crate) fn relink(hc: &mut HostConfig, old: &str, new: &str) -> bool {
    let pairs = hc.link_pairs();
    if !pairs.iter().any(|(target, _)| *target == old) {
        return false;
    }
    let fresh = pairs
        .iter()
        .map(|(target, alias)| format!("{}:{alias}", if *target == old { new } else { target }))
        .collect();
    hc.links = Some(fresh);
    true
}

impl Engine {
    /// Removes the anonymous volumes of `rec` that no other container uses (`rm -v`, `--rm`).
    pub fn remove_anonymous_volumes(&self, rec: &ContainerRecord) {
        crate::volume::remove_anonymous_of(&self.root, rec);
    }

    /// Removes a container; a running one only with `force` (then it is killed first).
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.record(id)?;
        let st = self.state(id)?;
        if st.status.is_live() {
            if !force {
                return Err(Error::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            if self.mark_stopping(id).is_err() {
                // The flag could not be written (a full disk, where removing is how space
                // comes back): without it the shim might restart the container, so the shim
                // goes first, and its container with its cgroup below.
                let _ = signal_pid(st.shim_pid, libc::SIGKILL);
                self.cgroup(id).signal_all(libc::SIGKILL);
            }
            // Frozen by `pause` or by a copy whatever the state says: SIGKILL needs a thaw.
            let _ = self.cgroup(id).set_frozen(false);
            // A restarting container has no process (pid 0): the flag alone ends its loop.
            let _ = signal_pid(st.pid, libc::SIGKILL);
            self.wait_shim(&st, Some(Duration::from_secs(30)));
        }
        let _l = self.containers.lock(id)?;
        // Normally gone with the container's exit; this covers a shim that died first.
        let _ = berth_runtime::Cgroup::open(Path::new(&format!("{}/{id}", self.cgroup_parent)))
            .destroy();
        // A killed shim leaves its own cgroup too; a live one (--rm finishing) keeps it.
        crate::shim::own_cgroup_of(id).remove_if_empty();
        if !self.containers.dir(id).exists() {
            return Ok(()); // --rm beat us to it
        }
        crate::network::detach(&self.root, &self.containers.dir(id), id);
        self.containers.remove_files(&rec)?;
        self.emit(&rec, "destroy", &[]);
        if volumes {
            self.remove_anonymous_volumes(&rec);
        }
        Ok(())
    }

    /// Removes container `id`'s legacy link named `alias` (`DELETE /containers/{id}/{alias}?link=1`).
    pub fn remove_link(&self, id: &str, alias: &str) -> Result<()> {
        let _l = self.containers.lock(id)?;
        let mut rec = self.record(id)?;
        let before = rec.host_config.links.as_ref().map_or(0, Vec::len);
        let kept: Vec<String> = rec
            .host_config
            .links
            .iter()
            .flatten()
            .filter(|l| crate::container::link_pair(l).is_none_or(|(_, a)| a != alias))
            .cloned()
            .collect();
        if kept.len() == before {
            return Err(Error::not_found(format!(
                "Could not find link {alias} of container /{}",
                rec.name
            )));
        }
        rec.host_config.links = (!kept.is_empty()).then_some(kept);
        self.containers.write_record(&rec)
    }

    /// Renames a container.
    pub fn rename(&self, id: &str, new: &str) -> Result<()> {
        let new = new.trim_start_matches('/');
        let _l = self.containers.lock(id)?;
        let mut rec = self.record(id)?;
        if rec.name == new {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        names::reserve(&self.root, new, id)?;
        let old = std::mem::replace(&mut rec.name, new.to_string());
        if let Err(e) = self.containers.write_record(&rec) {
            names::release(&self.root, new, id);
            return Err(e);
        }
        names::release(&self.root, &old, id);
        // Links name their containers: those pointing at the old name follow, as Docker's.
        for other in self.containers.ids() {
            if other == id {
                continue;
            }
            let Ok(_o) = self.containers.lock(&other) else {
                continue;
            };
            if let Ok(mut r) = self.record(&other) {
                if relink(&mut r.host_config, &old, new) {
                    let _ = self.containers.write_record(&r);
                }
            }
        }
        self.emit(&rec, "rename", &[("oldName", &format!("/{old}"))]);
        Ok(())
    }

    /// Removes every container that is not running; returns their ids and reclaimed bytes.
    pub fn prune_containers(&self) -> Result<(Vec<String>, u64)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (rec, st) in self.list() {
            if matches!(st.status, Status::Created | Status::Exited | Status::Dead) {
                bytes += dir_size(&self.containers.dir(&rec.id).join("upper"));
                self.remove(&rec.id, false, false)?;
                out.push(rec.id);
            }
        }
        crate::container::names::sweep(&self.root);
        self.sweep_stray_temp();
        Ok((out, bytes))
    }
}
