//! Flags of `volume create|ls|inspect|rm` (cli/volume.rs); `network ls|inspect` take the same.

use clap::Args;

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
