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
pub use system::{DaemonArgs, FormatArgs, InspectArgs, ShimArgs, SystemPruneArgs};
pub use volume::{VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumeRmArgs};

use clap::Args;

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
