//! The runtime root (dockerd's `--exec-root`): what lives only while the host is up —
//! network namespaces, subnet and lease reservations, the firewall's lock and markers.
//! `/run/berth` unless `BERTH_EXEC_ROOT` names another, read once per process so the
//! shims a berth starts (which inherit its environment) agree with it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The default runtime root.
pub const DEFAULT: &str = "/run/berth";

/// The runtime root of this process.
pub fn exec_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        std::env::var_os("BERTH_EXEC_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT))
    })
}

/// `rel` under the runtime root.
pub fn exec_path(rel: &str) -> PathBuf {
    exec_root().join(rel)
}

/// Where a container's network namespace is mounted.
pub fn netns_path(id: &str) -> PathBuf {
    exec_root().join("netns").join(id)
}
