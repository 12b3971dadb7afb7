//! What a registry's manifest says, read without the network: the media types, the entry of a
//! manifest list or index for one platform, and an image manifest's config and layers. Kept
//! apart from `pull` so that the reading of these untrusted documents can be tested alone.

use crate::error::{Error, Result};
use serde_json::Value;

/// Docker's manifest list (the index of a multi-platform image).
pub(crate) const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI's image index.
pub(crate) const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's schema 2 image manifest.
pub(crate) const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI's image manifest.
pub(crate) const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An `os/arch[/variant]` to pick from a manifest list or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    os: String,
    arch: String,
    variant: Option<String>,
}

/// Reads `--platform os/arch[/variant]`; none is this host's platform.
pub fn parse_platform(p: Option<&str>) -> Result<Platform> {
    let Some(p) = p else {
        return Ok(Platform::host());
    };
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os, arch] => Ok(Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant: None,
        }),
        [os, arch, v] => Ok(Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant: Some(v.to_string()),
        }),
        _ => Err(Error::invalid(format!(
            "invalid platform {p:?}: expected os/arch[/variant]"
        ))),
    }
}

impl Platform {
    /// This host's platform: linux and the architecture berth was built for.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: crate::image::config::host_arch().into(),
            variant: None,
        }
    }

    /// `os/arch[/variant]`, as errors name it.
    pub fn text(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }

    /// True when an index entry's `platform` object is this one (any variant if none asked).
    pub fn matches(&self, p: &Value) -> bool {
        p["os"] == self.os.as_str()
            && p["architecture"] == self.arch.as_str()
            && self
                .variant
                .as_ref()
                .is_none_or(|v| p["variant"].as_str() == Some(v.as_str()))
    }
}

/// The media type of a manifest: its own `mediaType`, else guessed from its shape or taken
/// from the reply's Content-Type (`header`), as Docker does for registries that omit it.
pub fn media_type(body: &Value, header: &str) -> String {
    body["mediaType"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| {
            if body.get("manifests").is_some() {
                MT_OCI_INDEX.into()
            } else if header.is_empty() {
                MT_OCI_MANIFEST.into()
            } else {
                header.into()
            }
        })
}

/// A manifest, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// A manifest list or index: the digest of its entry for the platform asked for.
    Index {
        /// The list's media type.
        media_type: String,
        /// The digest of the platform's manifest.
        digest: String,
    },
    /// An image manifest.
    Image(ImageManifest),
    /// Neither: the media type as read.
    Unsupported(String),
}

/// An image manifest's config and layers.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageManifest {
    /// The config blob's digest.
    pub config_digest: String,
    /// The config blob's size, when given.
    pub config_size: Option<u64>,
    /// The layer descriptors, as written.
    pub layers: Vec<Value>,
}

/// One layer to fetch: its blob and the diff id the config gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerJob {
    /// The blob's digest (checked to be a sha256 digest).
    pub digest: String,
    /// The blob's size as the manifest gives it (0 when missing).
    pub size: u64,
    /// The blob's media type ("" when missing).
    pub media_type: String,
    /// The uncompressed layer's digest, from the config.
    pub diff_id: String,
}

/// Reads a manifest document `v` served with Content-Type `header`: an index picks the entry
/// for `platform`; an image manifest must be schema 2 and name its config.
pub fn read_manifest(v: &Value, header: &str, platform: &Platform) -> Result<Manifest> {
    let mt = media_type(v, header);
    if mt == MT_DOCKER_LIST || mt == MT_OCI_INDEX {
        let list = v["manifests"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let pick = list
            .iter()
            .find(|m| platform.matches(&m["platform"]))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no matching manifest for {} in the manifest list entries",
                    platform.text()
                ))
            })?;
        let digest = pick["digest"]
            .as_str()
            .ok_or_else(|| Error::invalid("manifest list entry without digest"))?
            .to_string();
        crate::content::digest_hex(&digest)?;
        return Ok(Manifest::Index {
            media_type: mt,
            digest,
        });
    }
    if mt != MT_DOCKER_MANIFEST && mt != MT_OCI_MANIFEST {
        return Ok(Manifest::Unsupported(mt));
    }
    if v["schemaVersion"].as_u64() == Some(1) {
        return Err(Error::invalid(
            "schema 1 manifests are not supported (the registry must serve schema 2 or OCI)",
        ));
    }
    let config_digest = v["config"]["digest"]
        .as_str()
        .ok_or_else(|| Error::invalid("manifest without a config"))?
        .to_string();
    // It goes into a URL and names a blob: a sha256 digest and nothing else.
    crate::content::digest_hex(&config_digest)?;
    Ok(Manifest::Image(ImageManifest {
        config_digest,
        config_size: v["config"]["size"].as_u64(),
        layers: v["layers"].as_array().cloned().unwrap_or_default(),
    }))
}

impl ImageManifest {
    /// Pairs the layers with the config's `diff_ids`, refusing a count that differs, a layer
    /// without a sha256 digest and media types that are not plain layer tarballs.
    pub fn layer_jobs(&self, diff_ids: &[String]) -> Result<Vec<LayerJob>> {
        if diff_ids.len() != self.layers.len() {
            return Err(Error::invalid(format!(
                "image config lists {} layers but the manifest has {}",
                diff_ids.len(),
                self.layers.len()
            )));
        }
        let mut jobs = Vec::new();
        for (l, diff) in self.layers.iter().zip(diff_ids) {
            let d = l["digest"]
                .as_str()
                .ok_or_else(|| Error::invalid("layer without digest"))?;
            crate::content::digest_hex(d)?;
            let lmt = l["mediaType"].as_str().unwrap_or("").to_string();
            if lmt.contains("foreign") || lmt.contains("nondistributable") {
                return Err(Error::invalid(format!(
                    "unsupported media type {lmt} (foreign layers)"
                )));
            }
            if !(lmt.contains("tar") || lmt.is_empty()) {
                return Err(Error::invalid(format!("unsupported media type {lmt}")));
            }
            jobs.push(LayerJob {
                digest: d.to_string(),
                size: l["size"].as_u64().unwrap_or(0),
                media_type: lmt,
                diff_id: diff.clone(),
            });
        }
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_digest_that_is_no_digest_is_refused() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:../../../v2/other/manifests/x"},"layers":[]}"#;
        let v: Value = serde_json::from_slice(body).unwrap();
        assert!(read_manifest(&v, "", &Platform::host()).is_err());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_INDEX,
            "manifests": [{"digest": "../x", "platform": {"os": "linux", "architecture": Platform::host().text().split('/').nth(1).unwrap_or("amd64")}}],
        });
        assert!(read_manifest(&index, "", &Platform::host()).is_err());
    }
}
