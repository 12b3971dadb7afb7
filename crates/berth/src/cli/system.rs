//! inspect, version, info.

use super::{FormatArgs, InspectArgs};
use crate::format::Template;
use crate::{CmdResult, Exit};
use berth_engine::container::Status;
use berth_engine::Engine;
use serde_json::{json, Value};

/// Go's json.MarshalIndent with four spaces, as `docker inspect` prints.
pub fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("serialising a Value cannot fail");
    String::from_utf8(out).unwrap_or_default()
}

fn print_templated(format: &str, items: &[Value]) -> CmdResult {
    let t = Template::parse(format).map_err(|e| Exit {
        code: 1,
        message: e.to_string(),
    })?;
    for v in items {
        println!(
            "{}",
            t.render(v).map_err(|e| Exit {
                code: 1,
                message: e.to_string()
            })?
        );
    }
    Ok(0)
}

/// `berth inspect`, `container inspect`, `image inspect`.
pub fn inspect(engine: &Engine, a: InspectArgs, kind: Option<&str>) -> CmdResult {
    let kind = kind.or(a.typ.as_deref());
    if let Some(k) = kind {
        if k != "container" && k != "image" {
            return Err(Exit {
                code: 1,
                message: format!("\"{k}\" is not a valid value for --type"),
            }
            .into());
        }
    }
    let mut items = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let mut found = None;
        if kind != Some("image") {
            if let Ok(id) = engine.resolve(n) {
                if let (Ok(rec), Ok(st)) = (engine.record(&id), engine.state(&id)) {
                    found = Some(engine.inspect_container(&rec, &st));
                }
            }
        }
        if found.is_none() && kind != Some("container") {
            if let Ok(img) = engine.image(n) {
                if let Ok(cfg) = engine.images.config(&img.id) {
                    found = Some(engine.inspect_image(&img, &cfg));
                }
            }
        }
        match found {
            Some(v) => items.push(v),
            None => {
                failed = true;
                let what = match kind {
                    Some("container") => format!("No such container: {n}"),
                    Some("image") => format!("No such image: {n}"),
                    _ => format!("No such object: {n}"),
                };
                eprintln!("Error: {what}");
            }
        }
    }
    match &a.format {
        Some(f) => {
            print_templated(f, &items)?;
        }
        None => println!("{}", pretty(&Value::Array(items))),
    }
    Ok(if failed { 1 } else { 0 })
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

/// `berth version`.
pub fn version(_engine: &Engine, a: FormatArgs) -> CmdResult {
    let v = json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": "1.45", "Os": "linux", "Arch": berth_engine::image::config::host_arch(), "GoVersion": "n/a (Rust)"},
        "Server": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": "1.45", "MinAPIVersion": "1.24", "Os": "linux",
                   "Arch": berth_engine::image::config::host_arch(), "KernelVersion": kernel_version(),
                   "Components": [{"Name": "Engine", "Version": env!("CARGO_PKG_VERSION")}, {"Name": "runtime", "Version": "berth-runtime " .to_string() + env!("CARGO_PKG_VERSION")}]},
    });
    if let Some(f) = &a.format {
        return print_templated(f, &[v]);
    }
    println!(
        "Client:\n Version:           {}\n API version:       1.45\n OS/Arch:           linux/{}\n",
        env!("CARGO_PKG_VERSION"),
        berth_engine::image::config::host_arch()
    );
    println!(
        "Server: berth (in-process, no daemon)\n Engine:\n  Version:          {}\n  API version:      1.45 (minimum version 1.24)\n  OS/Arch:          linux/{}\n  Kernel:           {}\n runtime:\n  Version:          berth-runtime {}",
        env!("CARGO_PKG_VERSION"),
        berth_engine::image::config::host_arch(),
        kernel_version(),
        env!("CARGO_PKG_VERSION")
    );
    Ok(0)
}

/// `berth info`.
pub fn info(engine: &Engine, a: FormatArgs) -> CmdResult {
    let list = engine.list();
    let running = list
        .iter()
        .filter(|(_, s)| s.status == Status::Running)
        .count();
    let paused = list
        .iter()
        .filter(|(_, s)| s.status == Status::Paused)
        .count();
    let images = engine.images.list().len();
    let cg = berth_runtime::CgroupVersion::detect();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024;
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let v = json!({
        "ID": "", "Containers": list.len(), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": list.len() - running - paused, "Images": images, "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cg.as_str(),
        "KernelVersion": kernel_version(), "OperatingSystem": os_name(), "OSType": "linux",
        "Architecture": std::env::consts::ARCH, "NCPU": ncpu, "MemTotal": mem, "DockerRootDir": engine.root.path(),
        "Name": hostname, "ServerVersion": env!("CARGO_PKG_VERSION"), "DefaultRuntime": "berth",
        "Runtimes": {"berth": {"path": "builtin"}}, "SecurityOptions": ["name=seccomp,profile=builtin"],
    });
    if let Some(f) = &a.format {
        return print_templated(f, &[v]);
    }
    println!(
        "Client:\n Version:    {}\n Context:    default\n",
        env!("CARGO_PKG_VERSION")
    );
    println!("Server:");
    println!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}",
        list.len(),
        running,
        paused,
        list.len() - running - paused
    );
    println!(" Images: {images}");
    println!(" Server Version: {}", env!("CARGO_PKG_VERSION"));
    println!(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n  Supports d_type: true");
    println!(
        " Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: {}",
        cg.as_str()
    );
    println!(" Runtimes: berth\n Default Runtime: berth\n Security Options:\n  seccomp\n   Profile: builtin");
    println!(
        " Kernel Version: {}\n Operating System: {}\n OSType: linux\n Architecture: {}",
        kernel_version(),
        os_name(),
        std::env::consts::ARCH
    );
    println!(
        " CPUs: {ncpu}\n Total Memory: {:.4}GiB\n Name: {hostname}\n Berth Root Dir: {}",
        mem as f64 / (1u64 << 30) as f64,
        engine.root.path().display()
    );
    Ok(0)
}
