//! `run`, `create`, `start`, `attach`: creating from the flags, starting, and attaching to a
//! container until it exits.

use super::attach::{attach_stream, detach_keys, terminal_size, AttachOptions};
use super::create_request::request;
use super::{RunArgs, StartArgs};
use crate::{CmdResult, Exit};
use anyhow::{bail, Context};
use berth_engine::{Engine, ErrorKind};
use std::os::unix::net::UnixStream;

/// `berth create`: prints the new id.
pub fn create(engine: &Engine, a: RunArgs) -> CmdResult {
    let id = create_container(engine, &a)?;
    println!("{id}");
    Ok(0)
}

/// Creates the container and, with `--cidfile`, records its id (refusing an existing file).
fn create_container(engine: &Engine, a: &RunArgs) -> anyhow::Result<String> {
    if let Some(f) = &a.cidfile {
        if f.exists() {
            bail!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                f.display()
            );
        }
    }
    let req = request(a)?;
    let progress = || super::registry::Progress::new(true, false);
    match a.pull.as_str() {
        "always" => {
            super::registry::pull_image(engine, &req.image, a.platform.clone(), &progress())?;
        }
        "missing" | "never" => {}
        p => {
            bail!("invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\"")
        }
    }
    let id = match engine.create(req.clone()) {
        Err(e) if e.kind == ErrorKind::ImageNotFound && a.pull == "missing" => {
            // The docker CLI's line, before it pulls what the engine did not have.
            let shown = berth_engine::reference::Reference::parse(&req.image)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| req.image.clone());
            eprintln!("Unable to find image '{shown}' locally");
            super::registry::pull_image(engine, &req.image, a.platform.clone(), &progress())?;
            engine.create(req)?
        }
        r => r?,
    };
    if let Some(f) = &a.cidfile {
        std::fs::write(f, &id)
            .with_context(|| format!("write the container ID file {}", f.display()))?;
    }
    Ok(id)
}

/// `berth run`.
pub fn run(engine: &Engine, a: RunArgs) -> CmdResult {
    let id = create_container(engine, &a)?;
    if a.detach {
        engine.start_sized(&id, None, terminal_size())?;
        println!("{id}");
        return Ok(0);
    }
    let keys = detach_keys(a.detach_keys.as_deref())?;
    let (mine, theirs) = UnixStream::pair().context("socketpair")?;
    engine.start_sized(&id, Some(theirs), terminal_size())?;
    attach_stream(
        engine,
        &id,
        mine,
        AttachOptions {
            interactive: a.interactive,
            tty: a.tty,
            sig_proxy: a.sig_proxy && !a.tty,
            detach_keys: keys,
        },
    )
}

/// `berth start`.
pub fn start(engine: &Engine, a: StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let id = engine.resolve(&a.containers[0])?;
        let rec = engine.record(&id)?;
        let keys = detach_keys(a.detach_keys.as_deref())?;
        let (mine, theirs) = UnixStream::pair().context("socketpair")?;
        engine.start_sized(&id, Some(theirs), terminal_size())?;
        let o = AttachOptions {
            interactive: a.interactive && rec.config.open_stdin,
            tty: rec.config.tty,
            sig_proxy: !rec.config.tty,
            detach_keys: keys,
        };
        return attach_stream(engine, &id, mine, o);
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match engine.resolve(c).and_then(|id| engine.start(&id, None)) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed.push(c.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Exit {
            code: 1,
            message: format!("Error: failed to start containers: {}", failed.join(", ")),
        }
        .into())
    }
}

/// `berth attach`.
pub fn attach(engine: &Engine, a: super::AttachArgs) -> CmdResult {
    let id = engine.resolve(&a.container)?;
    let rec = engine.record(&id)?;
    let st = engine.state(&id)?;
    if st.status == berth_engine::container::Status::Paused {
        return Err(Exit {
            code: 1,
            message: "You cannot attach to a paused container, unpause it first".into(),
        }
        .into());
    }
    if st.status != berth_engine::container::Status::Running {
        return Err(Exit {
            code: 1,
            message: "You cannot attach to a stopped container, start it first".into(),
        }
        .into());
    }
    let sock = engine.attach_stream(&id)?;
    let keys = detach_keys(a.detach_keys.as_deref())?;
    attach_stream(
        engine,
        &id,
        sock,
        AttachOptions {
            interactive: !a.no_stdin && rec.config.open_stdin,
            tty: rec.config.tty,
            sig_proxy: a.sig_proxy && !rec.config.tty,
            detach_keys: keys,
        },
    )
}
