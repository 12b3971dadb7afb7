//! inspect, version, info.

use super::{FormatArgs, InspectArgs};
use crate::template::Template;
use crate::{CmdResult, Exit};
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

/// Each item through one Go template, a line each (`inspect -f`, `volume inspect -f`).
pub fn print_templated(format: &str, items: &[Value]) -> CmdResult {
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

/// `volume inspect`, `network inspect`: each name's object as `get` finds it (an error is
/// reported and the others still shown), as JSON or through `--format`; exit 1 if one failed.
pub fn inspect_each(
    names: &[String],
    format: Option<&str>,
    get: impl Fn(&str) -> berth_engine::Result<Value>,
) -> CmdResult {
    let mut items = Vec::new();
    let mut failed = false;
    for n in names {
        match get(n) {
            Ok(v) => items.push(v),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed = true;
            }
        }
    }
    match format {
        Some(f) => {
            print_templated(f, &items)?;
        }
        None => println!("{}", pretty(&Value::Array(items))),
    }
    Ok(if failed { 1 } else { 0 })
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

/// `berth version`.
pub fn version(_engine: &Engine, a: FormatArgs) -> CmdResult {
    use berth_engine::inspect::{server_version, API_VERSION};
    let arch = berth_engine::image::config::host_arch();
    let server = server_version();
    let v = json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": API_VERSION, "Os": "linux", "Arch": arch, "GoVersion": "n/a (Rust)"},
        "Server": server,
    });
    if let Some(f) = &a.format {
        return print_templated(f, &[v]);
    }
    println!(
        "Client:\n Version:           {}\n API version:       {API_VERSION}\n OS/Arch:           linux/{arch}\n",
        env!("CARGO_PKG_VERSION"),
    );
    println!(
        "Server: berth (in-process, no daemon)\n Engine:\n  Version:          {}\n  API version:      {API_VERSION} (minimum version {})\n  OS/Arch:          linux/{arch}\n  Kernel:           {}\n runtime:\n  Version:          berth-runtime {}",
        env!("CARGO_PKG_VERSION"),
        server["MinAPIVersion"].as_str().unwrap_or(""),
        server["KernelVersion"].as_str().unwrap_or(""),
        env!("CARGO_PKG_VERSION")
    );
    Ok(0)
}

/// `berth info`.
pub fn info(engine: &Engine, a: FormatArgs) -> CmdResult {
    let v = engine.info();
    if let Some(f) = &a.format {
        return print_templated(f, &[v]);
    }
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let t = |k: &str| v[k].as_str().unwrap_or("").to_string();
    println!(
        "Client:\n Version:    {}\n Context:    default\n",
        env!("CARGO_PKG_VERSION")
    );
    println!("Server:");
    println!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}",
        n("Containers"),
        n("ContainersRunning"),
        n("ContainersPaused"),
        n("ContainersStopped")
    );
    println!(" Images: {}", n("Images"));
    println!(" Server Version: {}", t("ServerVersion"));
    println!(" Storage Driver: overlay2\n  Backing Filesystem: extfs\n  Supports d_type: true");
    println!(
        " Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: {}",
        t("CgroupVersion")
    );
    println!(" Runtimes: berth\n Default Runtime: berth\n Security Options:\n  seccomp\n   Profile: builtin");
    println!(
        " Kernel Version: {}\n Operating System: {}\n OSType: linux\n Architecture: {}",
        t("KernelVersion"),
        t("OperatingSystem"),
        t("Architecture")
    );
    println!(
        " CPUs: {}\n Total Memory: {:.4}GiB\n Name: {}\n Berth Root Dir: {}",
        n("NCPU"),
        n("MemTotal") as f64 / (1u64 << 30) as f64,
        t("Name"),
        engine.root.path().display()
    );
    Ok(0)
}

/// `berth system df`.
pub fn df(engine: &Engine, a: FormatArgs) -> CmdResult {
    let du = engine.disk_usage();
    let img_total = du.layers_size;
    let img_reclaim = du.images_reclaimable;
    let active_images = du.images.iter().filter(|i| i.3 > 0).count();
    let ctr_total: u64 = du.containers.iter().map(|c| c.1).sum();
    let ctr_reclaim: u64 = du.containers.iter().filter(|c| !c.2).map(|c| c.1).sum();
    let active_ctrs = du.containers.iter().filter(|c| c.2).count();
    let vol_total: u64 = du.volumes.iter().map(|v| v.1).sum();
    let vol_reclaim: u64 = du.volumes.iter().filter(|v| v.2 == 0).map(|v| v.1).sum();
    let active_vols = du.volumes.iter().filter(|v| v.2 > 0).count();
    let (images, containers, vols) = (&du.images, &du.containers, &du.volumes);
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
    crate::format::print_list(&fmt, &headers, &rows)
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
    use super::container::print_deleted;
    let (ctrs, mut bytes) = engine.prune_containers()?;
    print_deleted("Containers", &ctrs, "");
    if a.volumes {
        let (removed, vb) = engine.prune_volumes(false);
        bytes += vb;
        print_deleted("Volumes", &removed, "");
    }
    let (imgs, ib) = engine.prune_images(a.all)?;
    bytes += ib;
    print_deleted("Images", &imgs, "deleted: ");
    println!("Total reclaimed space: {}", crate::human::size(bytes));
    Ok(0)
}

/// `berth system check [--repair]`: one line a problem, then a summary; exits 1 while any
/// problem is left unrepaired.
pub fn check(engine: &Engine, a: super::SystemCheckArgs) -> CmdResult {
    use berth_engine::Severity;
    let report = engine.system_check(a.repair)?;
    for p in &report.problems {
        let kind = match p.severity {
            Severity::Damage => "damaged",
            Severity::Leftover => "leftover",
        };
        let size = if p.bytes > 0 {
            format!(" ({})", crate::human::size(p.bytes))
        } else {
            String::new()
        };
        let done = if p.repaired { " — repaired" } else { "" };
        println!("{kind}: {}{size}{done}", p.what);
    }
    println!(
        "Checked {} images, {} layers, {} blobs, {} containers",
        report.images, report.layers, report.blobs, report.containers
    );
    let left = report.unrepaired();
    if report.problems.is_empty() {
        println!("No damage found");
    } else {
        println!(
            "{} problems found, {} repaired",
            report.problems.len(),
            report.problems.len() - left
        );
    }
    Ok(if left > 0 { 1 } else { 0 })
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
    use berth_api::{Endpoint, TlsFiles};
    let mut endpoints = a
        .host
        .iter()
        .map(|h| Endpoint::parse(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    if endpoints.is_empty() {
        endpoints.push(Endpoint::Unix(berth_api::default_socket()));
    }
    let tls = if a.tlsverify {
        match (a.tlscacert, a.tlscert, a.tlskey) {
            (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
            _ => anyhow::bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey"),
        }
    } else {
        None
    };
    let engine = Engine::open(engine.root.path())?;
    let names: Vec<String> = endpoints.iter().map(|e| e.to_string()).collect();
    eprintln!(
        "berth daemon: API {} on {}",
        berth_api::API_VERSION,
        names.join(", ")
    );
    berth_api::serve(engine, &endpoints, tls.as_ref())
        .map_err(|e| anyhow::anyhow!("serve: {e}"))?;
    Ok(0)
}
