//! Each command's flags, in a file named as the `cli/` command file that takes them.

mod build;
mod container;
mod events;
mod exec;
mod files;
mod image;
mod network;
mod registry;
mod run;
mod stats;
mod system;
mod volume;

pub use build::BuildArgs;
pub use container::{ContainersArgs, KillArgs, LogsArgs, PsArgs, RenameArgs, RmArgs, StopArgs};
pub use events::EventsArgs;
pub use exec::{ExecArgs, TopArgs};
pub use files::{CommitArgs, ContainerArg, CpArgs, ExportArgs};
pub use image::{HistoryArgs, ImagesArgs, ImportArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs};
pub use network::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkRmArgs, PortArgs,
};
pub use registry::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
pub use run::{AttachArgs, RunArgs, StartArgs};
pub use stats::{StatsArgs, UpdateArgs};
pub use system::{DaemonArgs, FormatArgs, InspectArgs, ShimArgs, SystemCheckArgs, SystemPruneArgs};
pub use volume::{VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumeRmArgs};

use clap::Args;

/// Resource limit flags of `run`, `create` and `update`.
#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

/// Flags of the prune commands.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// The limits as numbers; None where a flag was not given.
#[derive(Debug, Default)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<i64>,
    /// Bytes of memory plus swap, -1 unlimited.
    pub memory_swap: Option<i64>,
    /// CPUs × 1e9.
    pub nano_cpus: Option<i64>,
    /// Relative weight.
    pub cpu_shares: Option<i64>,
    /// Processes, -1 unlimited.
    pub pids_limit: Option<i64>,
}

impl LimitArgs {
    /// Reads the flags' text, with the docker CLI's words for a bad one.
    pub fn parse(&self) -> anyhow::Result<Limits> {
        use anyhow::anyhow;
        let ram = |flag: &str, v: &str| {
            crate::human::parse_ram(v)
                .map_err(|e| anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: {e}"))
        };
        Ok(Limits {
            memory: self.memory.as_deref().map(|m| ram("-m, --memory", m)).transpose()?,
            memory_swap: match self.memory_swap.as_deref() {
                Some("-1") => Some(-1),
                Some(s) => Some(ram("--memory-swap", s)?),
                None => None,
            },
            nano_cpus: self
                .cpus
                .as_deref()
                .map(|c| {
                    c.parse::<f64>().map(|f| (f * 1e9).round() as i64).map_err(|_| {
                        anyhow!("invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number")
                    })
                })
                .transpose()?,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
        })
    }
}
