//! Docker-compatible command line: the command tree here, each command's flags in `args/` (parse
//! and validate only); each command file turns them into engine calls and prints.

mod args;
pub mod attach;
pub mod build;
pub mod container;
pub mod create_request;
pub mod events;
pub mod exec;
pub mod files;
pub mod filters;
pub mod image;
pub mod network;
pub mod registry;
pub mod run;
pub mod stats;
pub mod system;
pub mod volume;

pub use args::*;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// berth: a Docker-compatible container engine in one binary, no daemon required.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// State root (default /var/lib/berth, or $BERTH_ROOT)
    #[arg(long, global = true, env = "BERTH_ROOT")]
    pub root: Option<PathBuf>,
    /// Runtime root: network namespaces and host-wide reservations (default /run/berth, or
    /// $BERTH_EXEC_ROOT)
    #[arg(long = "exec-root", global = true, env = "BERTH_EXEC_ROOT")]
    pub exec_root: Option<PathBuf>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Top-level commands (Docker's names).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// List containers
    #[command(alias = "list")]
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// List images
    Images(ImagesArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Get real time events from berth (every berth process on this host)
    Events(EventsArgs),
    /// Show the berth version information
    Version(FormatArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Manage containers
    Container {
        /// The container command.
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage images
    Image {
        /// The image command.
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage volumes
    Volume {
        /// The volume command.
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Manage networks
    Network {
        /// The network command.
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Manage berth: disk usage, prune, info
    System {
        /// The system command.
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Serve the Docker Engine API on a unix socket (for the docker CLI, docker-py, compose)
    Daemon(DaemonArgs),
    /// Internal: supervise one container (started by berth itself)
    #[command(hide = true)]
    Shim(ShimArgs),
}

/// `berth container …`.
#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop
    Wait(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

/// `berth image …`.
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

/// `berth volume …`.
#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `berth network …`.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more networks
    Inspect(VolumeInspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
}

/// `berth system …`.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage
    Df(FormatArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Check the store and what containers hold on the host, and repair it
    Check(SystemCheckArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Start the containers whose restart policy says so (run once at boot, e.g. from systemd)
    Boot,
    /// Serve the Docker Engine API (the same as `berth daemon`)
    Service(DaemonArgs),
}
