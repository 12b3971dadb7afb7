//! Image commands: images, import, load, save, tag, rmi, history, image prune.

use super::{HistoryArgs, ImagesArgs, ImportArgs, LoadArgs, PruneArgs, RmiArgs, SaveArgs, TagArgs};
use crate::format::{list_format, print_list};
use crate::{human, CmdResult};
use anyhow::{anyhow, bail, Context};
use berth_engine::image::config::apply_change;
use berth_engine::image::ContainerConfig;
use berth_engine::reference::Reference;
use berth_engine::Engine;
use serde_json::{json, Value};

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

/// `berth images`.
pub fn images(engine: &Engine, a: ImagesArgs) -> CmdResult {
    let mut pairs: Vec<(String, String)> = super::filters::filter_pairs(&a.filter)?;
    // `images REPOSITORY[:TAG]` is a reference filter, as the docker CLI sends it.
    if let Some(r) = &a.repository {
        let w = Reference::parse_named(r)?;
        let name = match w.tag().filter(|_| r.contains(':')) {
            Some(t) => format!("{}:{t}", w.familiar_name()),
            None => w.familiar_name(),
        };
        pairs.push(("reference".into(), name));
    }
    let mut rows = Vec::new();
    for i in engine.list_images(a.all, &pairs)? {
        let created = i.config.created.clone().unwrap_or_default();
        let digest = i
            .digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map_or_else(|| "<none>".to_string(), |(_, d)| d.to_string());
        let mut names = i.tags.clone();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in names {
            rows.push(json!({
                "Repository": repo, "Tag": tag, "Digest": digest, "ID": short_id(&i.record.id, a.no_trunc),
                "CreatedSince": if created.is_empty() { "N/A".to_string() } else { format!("{} ago", human::duration(human::since(&created))) },
                "CreatedAt": human::created_at(&created), "Size": human::size(i.size), "VirtualSize": human::size(i.size),
                "SharedSize": "N/A", "UniqueSize": "N/A", "Containers": "N/A",
            }));
        }
    }
    if a.quiet {
        // One line a row, as the docker CLI prints it: an image with two tags twice.
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let fmt = list_format(a.format.as_deref(), default);
    let headers = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID", "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE",
        "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS",
    });
    print_list(&fmt, &headers, &rows)
}

/// `berth import`.
pub fn import(engine: &Engine, a: ImportArgs) -> CmdResult {
    let mut cfg = ContainerConfig::default();
    for c in &a.change {
        apply_change(&mut cfg, c).map_err(|e| anyhow!("{e}"))?;
    }
    let tag = a.reference.as_deref().map(Reference::parse).transpose()?;
    if a.source.contains("://") {
        bail!("importing from a URL is not supported: download the file and import it");
    }
    let id = if a.source == "-" {
        engine.images.import(
            std::io::stdin().lock(),
            cfg,
            "-",
            a.message.as_deref(),
            tag.as_ref(),
        )?
    } else {
        let f = std::fs::File::open(&a.source).with_context(|| format!("open {}", a.source))?;
        engine
            .images
            .import(f, cfg, &a.source, a.message.as_deref(), tag.as_ref())?
    };
    println!("{id}");
    Ok(0)
}

/// `berth load`.
pub fn load(engine: &Engine, a: LoadArgs) -> CmdResult {
    let loaded = match &a.input {
        Some(p) => engine
            .images
            .load(std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?)?,
        None => {
            if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
                bail!("requested load from stdin, but stdin is empty");
            }
            engine.images.load(std::io::stdin().lock())?
        }
    };
    if !a.quiet {
        for (refs, id) in loaded {
            if refs.is_empty() {
                println!("Loaded image ID: {id}");
            }
            for r in refs {
                println!("Loaded image: {}", r.familiar());
            }
        }
    }
    Ok(0)
}

/// `berth save`.
pub fn save(engine: &Engine, a: SaveArgs) -> CmdResult {
    let wanted = engine.save_selection(&a.images)?;
    match &a.output {
        Some(p) => super::files::write_aside(p, |f| {
            Ok(engine.images.save(&wanted, std::io::BufWriter::new(f))?)
        })?,
        None => {
            super::files::refuse_terminal()?;
            engine
                .images
                .save(&wanted, std::io::BufWriter::new(std::io::stdout().lock()))?;
        }
    }
    Ok(0)
}

/// `berth tag`.
pub fn tag(engine: &Engine, a: TagArgs) -> CmdResult {
    engine.tag_image(&a.source, &Reference::parse(&a.target)?)?;
    Ok(0)
}

/// `berth rmi`.
pub fn rmi(engine: &Engine, a: RmiArgs) -> CmdResult {
    let mut failed = false;
    for n in &a.images {
        match engine.remove_image(n, a.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("Error response from daemon: {}", e.message);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth image prune`.
pub fn prune(engine: &Engine, a: PruneArgs) -> CmdResult {
    let q = if a.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] "
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    };
    if !a.force && !super::container::confirm(q) {
        return Ok(0);
    }
    let (ids, bytes) = engine.prune_images(a.all)?;
    super::container::print_deleted("Images", &ids, "deleted: ");
    println!("Total reclaimed space: {}", human::size(bytes));
    Ok(0)
}

/// `berth history`.
pub fn history(engine: &Engine, a: HistoryArgs) -> CmdResult {
    let mut rows: Vec<Value> = Vec::new();
    for h in engine.history(&a.image)? {
        let by = if a.no_trunc || h.created_by.chars().count() <= 45 {
            h.created_by.clone()
        } else {
            format!("{}…", h.created_by.chars().take(44).collect::<String>())
        };
        let id = match &h.id {
            Some(id) => short_id(id, a.no_trunc),
            None => "<missing>".to_string(),
        };
        rows.push(json!({
            "ID": id,
            "CreatedSince": if a.human { format!("{} ago", human::duration(human::since(&h.created))) } else { h.created.clone() },
            "CreatedAt": h.created,
            "CreatedBy": by,
            "Size": if a.human { human::size(h.size) } else { h.size.to_string() },
            "Comment": h.comment,
        }));
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let fmt = list_format(
        a.format.as_deref(),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    );
    let headers = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    print_list(&fmt, &headers, &rows)
}
