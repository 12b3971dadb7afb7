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

/// `berth system df`.
pub fn df(engine: &Engine, a: FormatArgs) -> CmdResult {
    let containers = engine.list();
    let images = engine.images.list();
    let used_images: std::collections::HashSet<&str> =
        containers.iter().map(|(r, _)| r.image.as_str()).collect();
    // Layers are shared: count each once, and what only unused images hold as reclaimable.
    let mut layer_size = std::collections::HashMap::new();
    let mut used_layers = std::collections::HashSet::new();
    for img in &images {
        for l in &img.layers {
            layer_size.entry(l.diff_id.clone()).or_insert_with(|| {
                engine
                    .images
                    .layers
                    .info(&l.diff_id)
                    .map(|i| i.size)
                    .unwrap_or(0)
            });
            if used_images.contains(img.id.as_str()) {
                used_layers.insert(l.diff_id.clone());
            }
        }
    }
    let img_total: u64 = layer_size.values().sum();
    let img_reclaim: u64 = layer_size
        .iter()
        .filter(|(k, _)| !used_layers.contains(*k))
        .map(|(_, v)| v)
        .sum();
    let active_images = images
        .iter()
        .filter(|i| used_images.contains(i.id.as_str()))
        .count();
    let mut ctr_total = 0;
    let mut ctr_reclaim = 0;
    let mut active_ctrs = 0;
    for (r, st) in &containers {
        let sz = berth_engine::dir_size(&engine.containers.dir(&r.id).join("upper"));
        ctr_total += sz;
        if st.status.is_live() {
            active_ctrs += 1;
        } else {
            ctr_reclaim += sz;
        }
    }
    let vols = engine.volumes.list();
    let mut vol_total = 0;
    let mut vol_reclaim = 0;
    let mut active_vols = 0;
    for v in &vols {
        let sz = engine.volumes.size(v);
        vol_total += sz;
        if berth_engine::volume::users(&engine.root, &v.name).is_empty() {
            vol_reclaim += sz;
        } else {
            active_vols += 1;
        }
    }
    let pct = |r: u64, t: u64| match (r * 100).checked_div(t) {
        Some(p) => format!("{} ({p}%)", crate::human::size(r)),
        None => "0B".to_string(),
    };
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len(), "Active": active_images, "Size": crate::human::size(img_total), "Reclaimable": pct(img_reclaim, img_total)}),
        json!({"Type": "Containers", "TotalCount": containers.len(), "Active": active_ctrs, "Size": crate::human::size(ctr_total), "Reclaimable": pct(ctr_reclaim, ctr_total)}),
        json!({"Type": "Local Volumes", "TotalCount": vols.len(), "Active": active_vols, "Size": crate::human::size(vol_total), "Reclaimable": pct(vol_reclaim, vol_total)}),
        json!({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
    ];
    let fmt = crate::format::list_format(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    );
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    print!(
        "{}",
        crate::format::render_list(&fmt, &headers, &rows).map_err(|e| Exit {
            code: 1,
            message: e.to_string()
        })?
    );
    Ok(0)
}

/// `berth system prune`.
pub fn prune(engine: &Engine, a: super::SystemPruneArgs) -> CmdResult {
    if !a.force {
        let mut q = String::from("WARNING! This will remove:\n  - all stopped containers\n");
        if a.volumes {
            q.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        q.push_str(if a.all {
            "  - all images without at least one container associated to them\n"
        } else {
            "  - all dangling images\n"
        });
        q.push_str("\nAre you sure you want to continue? [y/N] ");
        if !super::container::confirm(&q) {
            return Ok(0);
        }
    }
    let (ctrs, mut bytes) = engine.prune_containers()?;
    if !ctrs.is_empty() {
        println!("Deleted Containers:");
        ctrs.iter().for_each(|c| println!("{c}"));
        println!();
    }
    if a.volumes {
        let mut removed = Vec::new();
        for v in engine.volumes.list() {
            if v.anonymous() && berth_engine::volume::users(&engine.root, &v.name).is_empty() {
                bytes += engine.volumes.size(&v);
                if engine.volumes.remove(&v.name).is_ok() {
                    removed.push(v.name);
                }
            }
        }
        if !removed.is_empty() {
            println!("Deleted Volumes:");
            removed.iter().for_each(|v| println!("{v}"));
            println!();
        }
    }
    let (imgs, ib) = engine.prune_images(a.all)?;
    bytes += ib;
    if !imgs.is_empty() {
        println!("Deleted Images:");
        imgs.iter().for_each(|i| println!("deleted: {i}"));
        println!();
    }
    println!("Total reclaimed space: {}", crate::human::size(bytes));
    Ok(0)
}

/// `berth system boot`.
pub fn boot(engine: &Engine) -> CmdResult {
    let mut failed = false;
    for (name, r) in engine.boot() {
        match r {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {name}: {}", e.message);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth daemon`: the Docker Engine API on a unix socket, until SIGTERM.
pub fn daemon(engine: &Engine, a: super::DaemonArgs) -> CmdResult {
    let socket = match a.host.as_slice() {
        [] => berth_api::default_socket(),
        [h] => match h.strip_prefix("unix://") {
            Some(p) => std::path::PathBuf::from(p),
            None => anyhow::bail!("-H {h}: only unix:// sockets are served (tcp:// needs TLS client verification, not there yet)"),
        },
        _ => anyhow::bail!("one -H socket at a time for now"),
    };
    let engine = Engine::open(engine.root.path())?;
    eprintln!(
        "berth daemon: API {} on {}",
        berth_api::API_VERSION,
        socket.display()
    );
    berth_api::serve(engine, &socket)
        .map_err(|e| anyhow::anyhow!("serve {}: {e}", socket.display()))?;
    Ok(0)
}
