//! Flags of inspect, version, info, system df|prune, daemon (cli/system.rs) and the hidden shim.

use clap::Args;

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

/// Flags of `system check`.
#[derive(Args, Debug)]
pub struct SystemCheckArgs {
    /// Repair what can be repaired (remove leftovers and damaged images no container uses)
    #[arg(short = 'r', long)]
    pub repair: bool,
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
