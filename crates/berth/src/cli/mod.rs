//! Docker-compatible command line: argument definitions (parse and validate only); each command
//! file turns them into engine calls and prints.

pub mod build;
pub mod container;
pub mod events;
pub mod exec;
pub mod files;
pub mod image;
pub mod network;
pub mod registry;
pub mod run;
pub mod stats;
pub mod system;
pub mod volume;

use clap::{Args, Parser, Subcommand};
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

/// Flags of `network connect`.
#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

/// Flags of `network disconnect`.
#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Network
    pub network: String,
    /// Container
    pub container: String,
}

/// Flags of `network create`.
#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network (bridge)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Option<String>,
    /// Auxiliary IPv4 addresses used by Network driver (name=ip), never handed out
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable IPv6 networking (refused: berth's networks are IPv4 only)
    #[arg(long)]
    pub ipv6: bool,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Network name
    pub name: String,
}

/// Flags of `network rm`.
#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Networks
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `port`.
#[derive(Args, Debug)]
pub struct PortArgs {
    /// Container
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `berth system …`.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage
    Df(FormatArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Start the containers whose restart policy says so (run once at boot, e.g. from systemd)
    Boot,
    /// Serve the Docker Engine API (the same as `berth daemon`)
    Service(DaemonArgs),
}

/// Flags of `system prune`.
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Flags of `volume create`.
#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// The name (random when absent).
    pub name: Option<String>,
}

/// Flags of `volume ls`.
#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (dangling=, name=, label=, driver=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// Flags of `volume inspect`.
#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// The volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `volume rm`.
#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// The volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `run` and `create`.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
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
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Connect a container to a network: bridge (default), a user network, none, host,
    /// container:<name|id>
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Publish a container's port(s) to the host: [ip:]hostPort:containerPort[/proto]
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random host ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Bind mount a volume ([SOURCE:]DEST[:ro|rw|nocopy|z|propagation])
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=volume|bind|tmpfs,src=…,dst=…,readonly)
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (DEST[:OPTIONS])
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// The OCI runtime (berth's own answers to `runc`, Docker's default).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Isolation technology (Linux: `default`).
    #[arg(long)]
    pub isolation: Option<String>,
    /// Volume driver (berth's volumes are `local`).
    #[arg(long)]
    pub volume_driver: Option<String>,
    /// Swappiness of the container's memory (0 to 100).
    #[arg(long)]
    pub memory_swappiness: Option<i64>,
    /// Mount volumes from the specified container(s) (NAME[:ro|rw])
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// PID namespace to use (host, container:NAME)
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use (private, shareable, host, container:NAME)
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long)]
    pub uts: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Block IO (relative weight), between 10 and 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Add a host device to the container (HOST[:CONTAINER[:rwm]])
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<PathBuf>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<PathBuf>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// Flags of `start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Flags of `attach`.
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// The container.
    pub container: String,
}

/// Flags of `exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// One container.
#[derive(Args, Debug)]
pub struct ContainerArg {
    /// The container.
    pub container: String,
}

/// Flags of `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The container.
    pub container: String,
}

/// Flags of `commit`.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// The container.
    pub container: String,
    /// Name of the new image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// Flags of `cp`.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or - for a tar stream.
    pub src: String,
    /// CONTAINER:DEST_PATH, a host path, or - for a tar stream.
    pub dest: String,
}

/// Flags of `stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// The containers (default: all running).
    pub containers: Vec<String>,
}

/// Flags of `update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
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
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// The containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Flags of `events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp (RFC 3339, Unix seconds, or relative like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (type=, event=, container=, image=, volume=, label=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// Flags of `top`.
#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container.
    pub container: String,
    /// Options for ps (default -ef).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

/// Flags of `stop` and `restart`.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Flags of `kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Flags of `rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Flags of `ps`.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// Flags of `logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// The container.
    pub container: String,
}

/// One or more containers.
#[derive(Args, Debug)]
pub struct ContainersArgs {
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Flags of `rename`.
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// Flags of `inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub typ: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// The objects.
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// Flags of `build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: 'PATH/Dockerfile')
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers (always)
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long)]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip) for the RUN instructions
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// The context: a directory, or - for a tar (or a Dockerfile) on stdin.
    #[arg(value_name = "PATH | -")]
    pub context: String,
}

/// Flags of `images`.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag].
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

/// Flags of `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// A tarball path or "-" for stdin.
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    /// Name for the new image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// Flags of `load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Flags of `save`.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// The images.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Flags of `tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// The source image.
    pub source: String,
    /// The new name.
    pub target: String,
}

/// Flags of `daemon`.
#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Where to listen, repeatable: unix:///path (default unix:///run/berth/berth.sock) or
    /// tcp://host:port (only with --tlsverify)
    #[arg(short = 'H', long = "host")]
    pub host: Vec<String>,
    /// Serve TCP with TLS and accept only clients with a certificate signed by --tlscacert
    #[arg(long)]
    pub tlsverify: bool,
    /// CA certificate that signs the clients' certificates (PEM)
    #[arg(long)]
    pub tlscacert: Option<std::path::PathBuf>,
    /// The daemon's TLS certificate (PEM)
    #[arg(long)]
    pub tlscert: Option<std::path::PathBuf>,
    /// The daemon's TLS key (PEM)
    #[arg(long)]
    pub tlskey: Option<std::path::PathBuf>,
}

/// Flags of `pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// Flags of `push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub image: String,
}

/// Flags of `login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (default Docker Hub)
    pub server: Option<String>,
}

/// Flags of `logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry (default Docker Hub)
    pub server: Option<String>,
}

/// Flags of `rmi`.
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// The images.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Flags of `history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// The image.
    pub image: String,
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

/// A `--format` flag alone.
#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// Flags of the hidden `shim` command.
#[derive(Args, Debug)]
pub struct ShimArgs {
    /// The container.
    pub id: String,
    /// Descriptor 4 is a first attached client.
    #[arg(long)]
    pub attach: bool,
}
