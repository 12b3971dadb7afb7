//! Docker's image list filters (`images -f`, `GET /images/json?filters=`), one reading for the
//! CLI and the API: `dangling`, `label`, `reference` (shell-style `*`), `before`, `since`.

use crate::{Error, Result};

/// Parsed filters of an image list.
#[derive(Debug, Default, Clone)]
pub struct ImageFilters {
    dangling: Option<bool>,
    references: Vec<String>,
    labels: Vec<String>,
    /// Created strictly before / after these times (of the images the filters name).
    before: Option<String>,
    since: Option<String>,
}

impl ImageFilters {
    /// Reads `(key, value)` pairs; `created` gives the creation time of an image the
    /// `before`/`since` filters name. Unknown keys are refused as Docker does.
    pub fn parse(
        pairs: &[(String, String)],
        created: impl Fn(&str) -> Result<String>,
    ) -> Result<ImageFilters> {
        let mut f = ImageFilters::default();
        for (k, v) in pairs {
            match k.as_str() {
                "dangling" => match v.as_str() {
                    "true" | "1" => f.dangling = Some(true),
                    "false" | "0" => f.dangling = Some(false),
                    _ => {
                        return Err(Error::invalid(format!(
                            "invalid filter 'dangling={v}': must be true or false"
                        )))
                    }
                },
                "reference" => f.references.push(v.clone()),
                "label" => f.labels.push(v.clone()),
                "before" => f.before = Some(created(v)?),
                "since" => f.since = Some(created(v)?),
                _ => return Err(Error::invalid(format!("invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    /// True when reference filters are given (then untagged images are left out).
    pub fn by_reference(&self) -> bool {
        !self.references.is_empty()
    }

    /// Whether an image passes the filters that look at the image as a whole.
    pub fn keep_image(
        &self,
        untagged: bool,
        created: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        if self.dangling.is_some_and(|d| d != untagged) {
            return false;
        }
        if self.before.as_deref().is_some_and(|b| created >= b)
            || self.since.as_deref().is_some_and(|s| created <= s)
        {
            return false;
        }
        self.labels.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
            None => labels.contains_key(l.as_str()),
        })
    }

    /// Whether one of an image's names (familiar repository and tag) passes the reference
    /// filters: the pattern against `repo` or `repo:tag`.
    pub fn keep_name(&self, repo: &str, tag: &str) -> bool {
        self.references.is_empty()
            || self
                .references
                .iter()
                .any(|f| glob_match(f, repo) || glob_match(f, &format!("{repo}:{tag}")))
    }
}

/// The creation time of the image `name` (what `before`/`since` compare with).
pub fn created_of(images: &super::ImageStore, name: &str) -> Result<String> {
    let img = images.resolve(name)?;
    Ok(images.config(&img.id)?.created.unwrap_or_default())
}

/// Shell-style `*` matching.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            if !rest.starts_with(p) {
                return false;
            }
            rest = &rest[p.len()..];
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else if let Some(pos) = rest.find(p) {
            rest = &rest[pos + p.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_and_match_as_docker() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let t = |_: &str| Ok("2026-01-02T00:00:00Z".to_string());
        assert!(ImageFilters::parse(&pairs(&[("bogus", "1")]), t).is_err());
        let f =
            ImageFilters::parse(&pairs(&[("reference", "my*/*"), ("label", "a=1")]), t).unwrap();
        assert!(f.keep_name("myorg/app", "v1"));
        assert!(!f.keep_name("busybox", "latest"));
        let mut labels = std::collections::BTreeMap::new();
        assert!(!f.keep_image(false, "2026", &labels));
        labels.insert("a".into(), "1".into());
        assert!(f.keep_image(false, "2026", &labels));
        let f = ImageFilters::parse(&pairs(&[("before", "x"), ("dangling", "false")]), t).unwrap();
        assert!(f.keep_image(false, "2026-01-01T00:00:00Z", &labels));
        assert!(!f.keep_image(false, "2026-01-03T00:00:00Z", &labels));
        assert!(!f.keep_image(true, "2026-01-01T00:00:00Z", &labels));
        assert!(glob_match("busybox:*", "busybox:latest"));
    }
}
