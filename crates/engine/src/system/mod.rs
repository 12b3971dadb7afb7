//! `system df`: what images, containers and volumes hold on disk.

pub mod check;
pub mod orphans;

use crate::Engine;
use std::collections::HashMap;
use std::path::Path;

/// What `system df` reports: every image, container and volume with its size and use.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Bytes of all unpacked layers, each counted once.
    pub layers_size: u64,
    /// (image id, bytes of its layers, bytes it shares with other images, containers using it).
    pub images: Vec<(String, u64, u64, usize)>,
    /// (container id, bytes of its writable layer, running).
    pub containers: Vec<(String, u64, bool)>,
    /// (volume name, bytes, containers using it).
    pub volumes: Vec<(String, u64, usize)>,
    /// Bytes of layers only images without containers hold (what pruning all could reclaim).
    pub images_reclaimable: u64,
}

/// Disk usage of a tree in bytes (allocated blocks, like du).
pub fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    total += m.len();
                }
            }
        }
    }
    total
}

impl Engine {
    /// `system df`.
    pub fn disk_usage(&self) -> DiskUsage {
        let containers = self.list();
        let images = self.images.list();
        let mut users: HashMap<&str, usize> = HashMap::new();
        for (r, _) in &containers {
            *users.entry(r.image.as_str()).or_default() += 1;
        }
        // Layers are shared: each counted once; those only unused images hold are reclaimable.
        let mut layer_size: HashMap<String, u64> = HashMap::new();
        let mut holders: HashMap<String, usize> = HashMap::new();
        let mut used_layers = std::collections::HashSet::new();
        for img in &images {
            for l in &img.layers {
                layer_size.entry(l.diff_id.clone()).or_insert_with(|| {
                    self.images
                        .layers
                        .info(&l.diff_id)
                        .map(|i| i.size)
                        .unwrap_or(0)
                });
                *holders.entry(l.diff_id.clone()).or_default() += 1;
                if users.contains_key(img.id.as_str()) {
                    used_layers.insert(l.diff_id.clone());
                }
            }
        }
        let mut du = DiskUsage {
            layers_size: layer_size.values().sum(),
            images_reclaimable: layer_size
                .iter()
                .filter(|(k, _)| !used_layers.contains(*k))
                .map(|(_, v)| v)
                .sum(),
            ..Default::default()
        };
        for img in &images {
            let (mut size, mut shared) = (0, 0);
            for l in &img.layers {
                let s = layer_size.get(&l.diff_id).copied().unwrap_or(0);
                size += s;
                if holders.get(&l.diff_id).copied().unwrap_or(0) > 1 {
                    shared += s;
                }
            }
            let n = users.get(img.id.as_str()).copied().unwrap_or(0);
            du.images.push((img.id.clone(), size, shared, n));
        }
        for (r, st) in &containers {
            let sz = dir_size(&self.containers.dir(&r.id).join("upper"));
            du.containers.push((r.id.clone(), sz, st.status.is_live()));
        }
        for v in self.volumes.list() {
            let n = crate::volume::users(&self.root, &v.name).len();
            du.volumes.push((v.name.clone(), self.volumes.size(&v), n));
        }
        du
    }
}
