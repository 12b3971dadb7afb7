//! `berth`: the Docker-compatible CLI, the hidden `shim` role, all in one binary.

mod cli;
mod format;
mod human;
mod template;

use clap::Parser;
use std::path::PathBuf;

/// An error that already knows its exit code and has been (or must be) shown.
#[derive(Debug)]
pub struct Exit {
    /// Exit code.
    pub code: i32,
    /// Message for stderr (empty: already printed).
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Result of a command: the process exit code.
pub type CmdResult = anyhow::Result<i32>;

/// `berth shim --root ROOT ID [--attach]`, parsed by hand: the shim lives as long as its
/// container, and building clap's command tree would leave its heap fragmented for that long.
fn shim_args() -> Option<(PathBuf, String, bool)> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().map(|a| a == "shim") != Some(true) {
        return None;
    }
    let mut root = None;
    let mut id = None;
    let mut attach = false;
    let mut it = args.into_iter().skip(1);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--root") => root = it.next().map(PathBuf::from),
            Some("--attach") => attach = true,
            _ => id = a.into_string().ok(),
        }
    }
    Some((
        root.unwrap_or_else(|| PathBuf::from(berth_engine::store::DEFAULT_ROOT)),
        id?,
        attach,
    ))
}

fn main() {
    if let Some((root, id, attach)) = shim_args() {
        std::process::exit(berth_engine::shim::run(&root, &id, attach));
    }
    let code = match cli::Cli::try_parse_from(stop_at_command(std::env::args_os().collect())) {
        Ok(c) => run(c),
        Err(e) => {
            use clap::error::ErrorKind as K;
            match e.kind() {
                K::DisplayHelp
                | K::DisplayVersion
                | K::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    0
                }
                _ => {
                    let _ = e.print();
                    125
                }
            }
        }
    };
    std::process::exit(code);
}

/// Docker stops reading its own options at the image (`run`, `create`) or container (`exec`):
/// everything after it is the command, `-c` included. clap would take such a `-c` for one of
/// berth's flags, so a `--` is put right after that positional argument before parsing.
fn stop_at_command(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Find the subcommand (skipping global options before it).
    let mut i = 1;
    while i < strs.len() && strs[i].starts_with('-') {
        i += if strs[i] == "--root" { 2 } else { 1 };
    }
    let mut path = Vec::new();
    while i < strs.len() && path.len() < 2 {
        path.push(strs[i].clone());
        i += 1;
        if path[0] != "container" {
            break;
        }
    }
    let leaf = path.last().cloned().unwrap_or_default();
    if !matches!(leaf.as_str(), "run" | "create" | "exec") {
        return args;
    }
    let root = cli::Cli::command();
    let mut cmd = &root;
    for p in &path {
        match cmd.find_subcommand(p) {
            Some(c) => cmd = c,
            None => return args,
        }
    }
    let takes_value = |a: &clap::Arg| {
        a.get_action().takes_values() && a.get_num_args().is_none_or(|n| n.min_values() > 0)
    };
    while i < strs.len() {
        let t = &strs[i];
        if t == "--" {
            return args;
        }
        if let Some(long) = t.strip_prefix("--") {
            let consumes = !long.contains('=')
                && cmd
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) && takes_value(a));
            i += if consumes { 2 } else { 1 };
            continue;
        }
        if t.len() > 1 && t.starts_with('-') {
            let mut consumes_next = false;
            for (k, ch) in t[1..].char_indices() {
                if cmd
                    .get_arguments()
                    .any(|a| a.get_short() == Some(ch) && takes_value(a))
                {
                    // The value is the rest of this token, or the next one.
                    consumes_next = k + ch.len_utf8() == t.len() - 1;
                    break;
                }
            }
            i += if consumes_next { 2 } else { 1 };
            continue;
        }
        // The image (or container): what follows belongs to the command.
        if i + 1 < strs.len() {
            args.insert(i + 1, "--".into());
        }
        return args;
    }
    args
}

fn run(c: cli::Cli) -> i32 {
    if c.version {
        println!(
            "berth version {}, build {}",
            env!("CARGO_PKG_VERSION"),
            option_env!("BERTH_GIT_COMMIT").unwrap_or("dev")
        );
        return 0;
    }
    if let Some(r) = &c.exec_root {
        // Read by the engine once, and inherited by the shims and the daemon's children.
        std::env::set_var("BERTH_EXEC_ROOT", r);
    }
    let root = c
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(berth_engine::store::DEFAULT_ROOT));
    let Some(cmd) = c.command else {
        use clap::CommandFactory;
        let _ = cli::Cli::command().print_help();
        return 0;
    };
    if let cli::Cmd::Shim(a) = &cmd {
        return berth_engine::shim::run(&root, &a.id, a.attach);
    }
    // Run-like commands report engine failures with Docker's 125/126/127; others exit 1.
    let run_like = matches!(
        cmd,
        cli::Cmd::Run(_)
            | cli::Cmd::Create(_)
            | cli::Cmd::Container {
                cmd: cli::ContainerCmd::Run(_) | cli::ContainerCmd::Create(_)
            }
    );
    // exec reports 126/127 like run, and 1 for everything else, like the docker CLI.
    let exec_like = matches!(
        cmd,
        cli::Cmd::Exec(_)
            | cli::Cmd::Container {
                cmd: cli::ContainerCmd::Exec(_)
            }
    );
    let result = berth_engine::Engine::open(&root)
        .map_err(anyhow::Error::from)
        .and_then(|engine| dispatch(&engine, cmd));
    match result {
        Ok(code) => code,
        Err(e) => report(e, run_like, exec_like),
    }
}

/// Prints an error the way Docker's CLI does and picks the exit code.
fn report(e: anyhow::Error, run_like: bool, exec_like: bool) -> i32 {
    if let Some(x) = e.downcast_ref::<Exit>() {
        if !x.message.is_empty() {
            eprintln!("{}", x.message);
        }
        return x.code;
    }
    if let Some(ee) = e.downcast_ref::<berth_engine::Error>() {
        if run_like {
            eprintln!("berth: Error response from daemon: {}", ee.message);
            return ee.kind.exit_code();
        }
        eprintln!("Error response from daemon: {}", ee.message);
        if exec_like
            && matches!(
                ee.kind,
                berth_engine::ErrorKind::NotExecutable | berth_engine::ErrorKind::CommandNotFound
            )
        {
            return ee.kind.exit_code();
        }
        return 1;
    }
    eprintln!("Error: {e:#}");
    if run_like {
        125
    } else {
        1
    }
}

fn dispatch(engine: &berth_engine::Engine, cmd: cli::Cmd) -> CmdResult {
    use cli::{container as ct, image as im, run as rn, system as sy};
    use cli::{Cmd, ContainerCmd as C, ImageCmd as I};
    match cmd {
        Cmd::Run(a) | Cmd::Container { cmd: C::Run(a) } => rn::run(engine, a),
        Cmd::Create(a) | Cmd::Container { cmd: C::Create(a) } => rn::create(engine, a),
        Cmd::Start(a) | Cmd::Container { cmd: C::Start(a) } => rn::start(engine, a),
        Cmd::Stop(a) | Cmd::Container { cmd: C::Stop(a) } => ct::stop(engine, a),
        Cmd::Attach(a) | Cmd::Container { cmd: C::Attach(a) } => rn::attach(engine, a),
        Cmd::Pause(a) | Cmd::Container { cmd: C::Pause(a) } => ct::pause(engine, a, true),
        Cmd::Stats(a) | Cmd::Container { cmd: C::Stats(a) } => cli::stats::stats(engine, a),
        Cmd::Update(a) | Cmd::Container { cmd: C::Update(a) } => cli::stats::update(engine, a),
        Cmd::Unpause(a) | Cmd::Container { cmd: C::Unpause(a) } => ct::pause(engine, a, false),
        Cmd::Exec(a) | Cmd::Container { cmd: C::Exec(a) } => cli::exec::exec(engine, a),
        Cmd::Top(a) | Cmd::Container { cmd: C::Top(a) } => cli::exec::top(engine, a),
        Cmd::Diff(a) | Cmd::Container { cmd: C::Diff(a) } => cli::files::diff(engine, a),
        Cmd::Export(a) | Cmd::Container { cmd: C::Export(a) } => cli::files::export(engine, a),
        Cmd::Commit(a) | Cmd::Container { cmd: C::Commit(a) } => cli::files::commit(engine, a),
        Cmd::Cp(a) | Cmd::Container { cmd: C::Cp(a) } => cli::files::cp(engine, a),
        Cmd::Restart(a) | Cmd::Container { cmd: C::Restart(a) } => ct::restart(engine, a),
        Cmd::Kill(a) | Cmd::Container { cmd: C::Kill(a) } => ct::kill(engine, a),
        Cmd::Rm(a) | Cmd::Container { cmd: C::Rm(a) } => ct::rm(engine, a),
        Cmd::Ps(a) | Cmd::Container { cmd: C::Ls(a) } => ct::ps(engine, a),
        Cmd::Logs(a) | Cmd::Container { cmd: C::Logs(a) } => ct::logs(engine, a),
        Cmd::Wait(a) | Cmd::Container { cmd: C::Wait(a) } => ct::wait(engine, a),
        Cmd::Rename(a) | Cmd::Container { cmd: C::Rename(a) } => ct::rename(engine, a),
        Cmd::Container { cmd: C::Inspect(a) } => sy::inspect(engine, a, Some("container")),
        Cmd::Container { cmd: C::Prune(a) } => ct::prune(engine, a),
        Cmd::Inspect(a) => sy::inspect(engine, a, None),
        Cmd::Images(a) | Cmd::Image { cmd: I::Ls(a) } => im::images(engine, a),
        Cmd::Import(a) | Cmd::Image { cmd: I::Import(a) } => im::import(engine, a),
        Cmd::Build(a) | Cmd::Image { cmd: I::Build(a) } => cli::build::build(engine, a),
        Cmd::Load(a) | Cmd::Image { cmd: I::Load(a) } => im::load(engine, a),
        Cmd::Pull(a) | Cmd::Image { cmd: I::Pull(a) } => cli::registry::pull(engine, a),
        Cmd::Push(a) | Cmd::Image { cmd: I::Push(a) } => cli::registry::push(engine, a),
        Cmd::Login(a) => cli::registry::login(engine, a),
        Cmd::Daemon(a) => cli::system::daemon(engine, a),
        Cmd::Logout(a) => cli::registry::logout(engine, a),
        Cmd::Save(a) | Cmd::Image { cmd: I::Save(a) } => im::save(engine, a),
        Cmd::Tag(a) | Cmd::Image { cmd: I::Tag(a) } => im::tag(engine, a),
        Cmd::Rmi(a) | Cmd::Image { cmd: I::Rm(a) } => im::rmi(engine, a),
        Cmd::History(a) | Cmd::Image { cmd: I::History(a) } => im::history(engine, a),
        Cmd::Image { cmd: I::Inspect(a) } => sy::inspect(engine, a, Some("image")),
        Cmd::Image { cmd: I::Prune(a) } => im::prune(engine, a),
        Cmd::Volume { cmd } => cli::volume::run(engine, cmd),
        Cmd::Network { cmd } => cli::network::run(engine, cmd),
        Cmd::Port(a) => cli::network::port(engine, a),
        Cmd::System {
            cmd: cli::SystemCmd::Info(a),
        } => sy::info(engine, a),
        Cmd::System {
            cmd: cli::SystemCmd::Df(a),
        } => sy::df(engine, a),
        Cmd::System {
            cmd: cli::SystemCmd::Prune(a),
        } => sy::prune(engine, a),
        Cmd::System {
            cmd: cli::SystemCmd::Check(a),
        } => sy::check(engine, a),
        Cmd::System {
            cmd: cli::SystemCmd::Boot,
        } => sy::boot(engine),
        Cmd::System {
            cmd: cli::SystemCmd::Service(a),
        } => cli::system::daemon(engine, a),
        Cmd::Events(a) => cli::events::events(engine, a),
        Cmd::Version(a) => sy::version(engine, a),
        Cmd::Info(a) => sy::info(engine, a),
        Cmd::Shim(_) => unreachable!("handled before the engine opens"),
    }
}
