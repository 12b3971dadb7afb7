//! Named and anonymous volumes (Docker's `local` driver): a directory `volumes/<name>/_data`
//! that outlives containers, plus `volume.json`. A volume is created atomically (built in tmp,
//! renamed), so a crash never leaves a half volume under its name.

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::store::{self, Root};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// Label Docker puts on volumes it made for `-v /path` and image `VOLUME`s.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What is kept about a volume, in Docker's inspect shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRecord {
    /// Name (64 hex for anonymous volumes).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// Where the data lives on the host.
    pub mountpoint: PathBuf,
    /// RFC 3339.
    pub created_at: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type=none,o=bind,device=/path` binds a host directory).
    pub options: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
}

impl VolumeRecord {
    /// The tmpfs options of a `type=tmpfs` volume.
    pub fn tmpfs_options(&self) -> Option<Vec<String>> {
        tmpfs_options_of(&self.options)
    }

    /// True for volumes made for `-v /path` or an image's VOLUME.
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// Docker's `volume ls` filters, parsed: each key by any of its values, but every `label`.
#[derive(Debug, Default)]
pub struct VolumeFilters {
    dangling: Option<bool>,
    names: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<String>,
}

impl VolumeFilters {
    /// Reads `(key, value)` pairs; an unknown key is refused, as Docker does.
    pub fn parse(pairs: &[(String, String)]) -> Result<VolumeFilters> {
        let mut f = VolumeFilters::default();
        for (k, v) in pairs {
            match k.as_str() {
                "dangling" => f.dangling = Some(matches!(v.as_str(), "true" | "1")),
                "name" => f.names.push(v.clone()),
                "driver" => f.drivers.push(v.clone()),
                "label" => f.labels.push(v.clone()),
                other => return Err(Error::invalid(format!("invalid filter '{other}'"))),
            }
        }
        Ok(f)
    }

    /// Whether `v` passes; `in_use` says whether a container uses it.
    pub fn keep(&self, v: &VolumeRecord, in_use: bool) -> bool {
        self.dangling.is_none_or(|d| d != in_use)
            && (self.names.is_empty() || self.names.iter().any(|n| v.name.contains(n.as_str())))
            && (self.drivers.is_empty() || self.drivers.contains(&v.driver))
            && self.labels.iter().all(|l| match l.split_once('=') {
                Some((k, x)) => v.labels.get(k).map(String::as_str) == Some(x),
                None => v.labels.contains_key(l.as_str()),
            })
    }
}

/// Where a new volume's data lives by its options, refusing options the local driver lacks:
/// its own `_data`, or the host directory `o=bind,device=` names. Checked before anything is
/// made, so a create that would fail here makes nothing.
pub fn mountpoint_for(
    dir: &std::path::Path,
    options: &BTreeMap<String, String>,
) -> Result<PathBuf> {
    if let Some(o) = tmpfs_options_of(options) {
        crate::container::mounts::check_tmpfs_options(&o)?;
    }
    Ok(match options.get("type").map(String::as_str) {
        None => dir.join("_data"),
        Some("none")
            if options
                .get("o")
                .is_some_and(|o| o.split(',').any(|x| x == "bind")) =>
        {
            let dev = options
                .get("device")
                .ok_or_else(|| Error::invalid("a bind volume needs -o device=<host path>"))?;
            let p = PathBuf::from(dev);
            if !p.is_dir() {
                return Err(Error::invalid(format!(
                    "failed to mount local volume: no such directory: {dev}"
                )));
            }
            p
        }
        // Memory, mounted fresh for each container that uses it.
        Some("tmpfs") => dir.join("_data"),
        Some(t) => {
            return Err(Error::invalid(format!(
                "volume option type={t} is not supported (supported: tmpfs, and none with o=bind)"
            )))
        }
    })
}

/// The volumes of one root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: Root,
}

/// Docker's volume name rule.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")))
    }
}

impl VolumeStore {
    /// The volume store of `root`.
    pub fn new(root: &Root) -> Self {
        VolumeStore { root: root.clone() }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }

    /// Creates a volume (a fresh anonymous one when `name` is None); an existing named volume is
    /// returned as it is, as Docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        self.create_reporting(name, labels, options).map(|(v, _)| v)
    }

    /// [`VolumeStore::create`], also saying whether this call made the volume (false: it
    /// existed, or another creator won the race), so a failed create gives back only its own.
    pub fn create_reporting(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(VolumeRecord, bool)> {
        let (name, mut labels) = match name {
            Some(n) => {
                validate_name(n)?;
                (n.to_string(), labels)
            }
            None => {
                let mut l = labels;
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (store::random_hex(32), l)
            }
        };
        if let Ok(v) = self.get(&name) {
            return Ok((v, false));
        }
        let mountpoint = mountpoint_for(&self.dir(&name), &options)?;
        labels.retain(|k, _| !k.is_empty());
        let rec = VolumeRecord {
            name: name.clone(),
            driver: "local".into(),
            mountpoint,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options,
            scope: "local".into(),
        };
        let tmp = self.root.temp_path("volume");
        let made = (|| -> Result<()> {
            fs::create_dir_all(tmp.join("_data")).ctx(|| format!("create {}", tmp.display()))?;
            store::write_json(&tmp.join("volume.json"), &rec)?;
            fs::create_dir_all(self.root.join("volumes")).ctx(|| "create volumes".into())?;
            fs::rename(&tmp, self.dir(&name)).ctx(|| format!("create volume {name}"))
        })();
        if made.is_err() {
            let _ = store::make_writable_and_remove(&tmp);
            // Lost a race with another creator of the same name: theirs is as good.
            if let Ok(v) = self.get(&name) {
                return Ok((v, false));
            }
        }
        made?;
        crate::events::emit(
            &self.root,
            "volume",
            "create",
            &rec.name,
            &[("driver", "local")],
        );
        Ok((rec, true))
    }

    /// A volume by name.
    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        if validate_name(name).is_err() {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        let p = self.dir(name).join("volume.json");
        if !p.exists() {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        store::read_json(&p)
    }

    /// Every volume.
    pub fn list(&self) -> Vec<VolumeRecord> {
        let Ok(rd) = fs::read_dir(self.root.join("volumes")) else {
            return Vec::new();
        };
        let mut v: Vec<VolumeRecord> = rd
            .flatten()
            .filter_map(|e| store::read_json(&e.path().join("volume.json")).ok())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Deletes a volume and its data (the caller checked it is unused).
    pub fn remove(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let tmp = self.root.temp_path("rmvolume");
        fs::rename(self.dir(name), &tmp).ctx(|| format!("remove volume {name}"))?;
        crate::events::emit(
            &self.root,
            "volume",
            "destroy",
            name,
            &[("driver", "local")],
        );
        store::make_writable_and_remove(&tmp).ctx(|| format!("remove volume {name}"))
    }

    /// `volume rm`: refused while a container uses the volume.
    pub fn remove_unused(&self, name: &str) -> Result<()> {
        let users = users(&self.root, name);
        if !users.is_empty() {
            return Err(in_use(name, &users));
        }
        self.remove(name)
    }

    /// Bytes used by a volume's own data (0 for bind volumes).
    pub fn size(&self, v: &VolumeRecord) -> u64 {
        if v.mountpoint.starts_with(self.root.path()) {
            crate::dir_size(&v.mountpoint)
        } else {
            0
        }
    }
}

/// The tmpfs options (`o=`) of volume options whose `type` is tmpfs.
pub(crate) fn tmpfs_options_of(options: &BTreeMap<String, String>) -> Option<Vec<String>> {
    (options.get("type").map(String::as_str) == Some("tmpfs")).then(|| {
        options
            .get("o")
            .map(|o| {
                o.split(',')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// A volume is in use: Docker's message.
pub fn in_use(name: &str, ids: &[String]) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("remove {name}: volume is in use - [{}]", ids.join(", ")),
    )
}

/// Containers (ids) whose mounts use volume `name`.
pub fn users(root: &Root, name: &str) -> Vec<String> {
    let store = crate::container::ContainerStore::new(root);
    store
        .ids()
        .into_iter()
        .filter(|id| {
            store
                .record(id)
                .map(|r| r.mounts.iter().any(|m| m.name.as_deref() == Some(name)))
                .unwrap_or(false)
        })
        .collect()
}

/// Removes the anonymous volumes of a removed container that no other container uses.
pub fn remove_anonymous_of(root: &Root, rec: &crate::container::ContainerRecord) {
    let vs = VolumeStore::new(root);
    for name in rec.mounts.iter().filter_map(|m| m.name.as_deref()) {
        if vs.get(name).map(|v| v.anonymous()).unwrap_or(false) && users(root, name).is_empty() {
            let _ = vs.remove(name);
        }
    }
}

impl crate::Engine {
    /// `volume create` with `driver` (berth has the local driver only, empty meaning it).
    pub fn create_volume(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        if !driver.is_empty() && driver != "local" {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        self.volumes.create(name, labels, options)
    }

    /// `volume rm`: only a volume no container uses; with `force` a missing one is no error.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        match self.volumes.remove_unused(name) {
            Err(e) if force && e.kind == ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// The volumes `volume ls` and `GET /volumes` show, by Docker's filters.
    pub fn list_volumes(&self, filters: &[(String, String)]) -> Result<Vec<VolumeRecord>> {
        let f = VolumeFilters::parse(filters)?;
        Ok(self
            .volumes
            .list()
            .into_iter()
            .filter(|v| f.keep(v, !users(&self.root, &v.name).is_empty()))
            .collect())
    }

    /// Removes the volumes no container uses: anonymous ones, or with `all` named ones too;
    /// returns their names and the bytes reclaimed.
    pub fn prune_volumes(&self, all: bool) -> (Vec<String>, u64) {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.volumes.list() {
            if (all || v.anonymous()) && crate::volume::users(&self.root, &v.name).is_empty() {
                bytes += self.volumes.size(&v);
                if self.volumes.remove(&v.name).is_ok() {
                    removed.push(v.name);
                }
            }
        }
        (removed, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            mountpoint: PathBuf::new(),
            created_at: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: BTreeMap::new(),
            scope: "local".into(),
        }
    }

    fn f(pairs: &[(&str, &str)]) -> VolumeFilters {
        let p: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VolumeFilters::parse(&p).unwrap()
    }

    #[test]
    fn names_by_any_value_labels_by_every_one() {
        let v = vol("data-1", &[("a", "1"), ("b", "2")]);
        assert!(f(&[("name", "zzz"), ("name", "ta-")]).keep(&v, false));
        assert!(!f(&[("name", "zzz")]).keep(&v, false));
        assert!(f(&[("label", "a"), ("label", "b=2")]).keep(&v, false));
        assert!(!f(&[("label", "a"), ("label", "c")]).keep(&v, false));
        assert!(f(&[("dangling", "true")]).keep(&v, false));
        assert!(!f(&[("dangling", "true")]).keep(&v, true));
        assert!(f(&[("dangling", "false")]).keep(&v, true));
        assert!(f(&[("driver", "local")]).keep(&v, true));
        let bad = [("colour".to_string(), "red".to_string())];
        assert!(
            VolumeFilters::parse(&bad).is_err(),
            "refused even with no volume to test"
        );
    }
}
