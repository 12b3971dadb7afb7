//! Registry manifests, indexes, image configs and docker-archive manifest.json: platform choice picks a matching entry, layer jobs carry sha256 digests and tar types, configs survive a save and reload, archive member paths never climb out.
#![no_main]

use berth_engine::content::digest_hex;
use berth_engine::image::archive::{member_path, parse_docker_manifest};
use berth_engine::image::ImageConfig;
use berth_engine::reference::Reference;
use berth_engine::registry::manifest::{
    media_type, parse_platform, read_manifest, Manifest, Platform,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The input's NUL-separated parts, so that seeds are plain JSON: a manifest, the index of
/// its Content-Type in [`HEADERS`], a `--platform` (empty: the host's), an image config and a
/// docker-archive manifest.json.
struct Input<'a> {
    manifest: &'a [u8],
    header: u8,
    platform: Option<&'a str>,
    config: &'a [u8],
    archive_manifest: &'a [u8],
}

impl<'a> Input<'a> {
    fn split(data: &'a [u8]) -> Input<'a> {
        let mut parts = data.splitn(5, |b| *b == 0);
        let mut next = || parts.next().unwrap_or_default();
        let manifest = next();
        let header = next().first().map_or(0, |b| b.wrapping_sub(b'0'));
        let platform = std::str::from_utf8(next()).ok().filter(|p| !p.is_empty());
        Input {
            manifest,
            header,
            platform,
            config: next(),
            archive_manifest: next(),
        }
    }
}

const HEADERS: &[&str] = &[
    "",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/json",
];

fn clean_member(c: &str) {
    assert!(!c.is_empty() && !c.starts_with('/'), "{c:?}");
    assert!(c.split('/').all(|p| !matches!(p, "" | "." | "..")), "{c:?}");
}

fn manifest(v: &Value, header: &str, platform: &Platform, config: &[u8]) {
    let mt = media_type(v, header);
    match read_manifest(v, header, platform) {
        Ok(Manifest::Index { digest, .. }) => {
            let list = v["manifests"].as_array().expect("an index has a list");
            let first = list
                .iter()
                .find(|m| platform.matches(&m["platform"]))
                .expect("the entry matches the platform");
            assert_eq!(first["digest"].as_str(), Some(digest.as_str()));
        }
        Ok(Manifest::Image(m)) => {
            assert_eq!(
                v["config"]["digest"].as_str(),
                Some(m.config_digest.as_str())
            );
            let Ok(cfg) = serde_json::from_slice::<ImageConfig>(config) else {
                return;
            };
            if let Ok(jobs) = m.layer_jobs(&cfg.rootfs.diff_ids) {
                assert_eq!(jobs.len(), m.layers.len());
                assert_eq!(jobs.len(), cfg.rootfs.diff_ids.len());
                for j in jobs {
                    assert!(digest_hex(&j.digest).is_ok(), "{:?}", j.digest);
                    assert!(j.media_type.is_empty() || j.media_type.contains("tar"));
                }
            }
        }
        Ok(Manifest::Unsupported(t)) => assert_eq!(t, mt),
        Err(_) => {}
    }
}

fn config(bytes: &[u8]) {
    let Ok(cfg) = serde_json::from_slice::<ImageConfig>(bytes) else {
        return;
    };
    // What commit and build write back must read as the same config.
    let saved = serde_json::to_value(&cfg).expect("a config serialises");
    let again: ImageConfig = serde_json::from_value(saved.clone())
        .unwrap_or_else(|e| panic!("saved config {saved} does not reload: {e}"));
    assert_eq!(serde_json::to_value(&again).expect("serialises"), saved);
}

fn archive(bytes: &[u8]) {
    let Ok(images) = parse_docker_manifest(bytes) else {
        return;
    };
    for img in images {
        for p in std::iter::once(&img.config).chain(&img.layers) {
            if let Ok(c) = member_path(p) {
                clean_member(&c);
            }
        }
        for t in &img.tags {
            let _ = Reference::parse(t);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data);
    let header = HEADERS[input.header as usize % HEADERS.len()];
    let platform = match parse_platform(input.platform) {
        Ok(p) => {
            assert_eq!(parse_platform(Some(&p.text())).ok(), Some(p.clone()));
            p
        }
        Err(_) => Platform::host(),
    };
    if let Ok(v) = serde_json::from_slice::<Value>(input.manifest) {
        manifest(&v, header, &platform, input.config);
        manifest(&v, header, &Platform::host(), input.config);
    }
    config(input.config);
    archive(input.archive_manifest);
    if let Ok(s) = std::str::from_utf8(input.archive_manifest) {
        if let Ok(c) = member_path(s) {
            clean_member(&c);
        }
    }
});
