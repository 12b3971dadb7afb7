//! `.dockerignore`: Docker's pattern rules (`*`, `?`, `**`, `!` exceptions, last match wins).

use crate::error::Result;
use crate::rooted::Rooted;

/// The patterns of a context's `.dockerignore`.
pub struct Patterns {
    rules: Vec<(bool, String)>,
}

impl Patterns {
    /// Reads `<context>/.dockerignore` (none: nothing ignored).
    pub fn load(context: &Rooted) -> Result<Patterns> {
        let text = context
            .read(".dockerignore")
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Ok(Patterns::parse(&text))
    }

    /// The patterns of a `.dockerignore` text: one a line, `#` comments, `!` exceptions.
    pub fn parse(text: &str) -> Patterns {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.strip_prefix('!') {
                Some(p) => (true, clean(p)),
                None => (false, clean(l)),
            })
            .collect();
        Patterns { rules }
    }

    /// True if the context path `rel` (or a directory above it) is excluded.
    pub fn ignored(&self, rel: &str) -> bool {
        let mut ignored = false;
        for (negate, p) in &self.rules {
            let hit = glob(p, rel) || ancestors(rel).any(|a| glob(p, a));
            if hit {
                ignored = !negate;
            }
        }
        ignored
    }

    /// True if an exception (`!…`) could bring back something below the ignored directory
    /// `dir`: then the walk goes on inside it, as Docker's does.
    pub fn may_except_under(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.rules
            .iter()
            .any(|(negate, p)| *negate && (p.starts_with(&prefix) || p.contains(['*', '?', '['])))
    }
}

fn clean(p: &str) -> String {
    p.trim()
        .trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

fn ancestors(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
}

/// Matches a path against a pattern: `*` and `?` within one segment, `**` across any number.
pub fn glob(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    segs(&p, &s)
}

fn segs(p: &[&str], s: &[&str]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(&"**") => (0..=s.len()).any(|k| segs(&p[1..], &s[k..])),
        Some(seg) => {
            !s.is_empty() && one(seg.as_bytes(), s[0].as_bytes()) && segs(&p[1..], &s[1..])
        }
    }
}

fn one(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|k| one(&p[1..], &s[k..])),
        Some(b'?') => !s.is_empty() && one(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && one(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(".dockerignore"),
            "# comment\n*.log\nbuild/\n**/secret\n!keep.log\ntmp*\n",
        )
        .unwrap();
        let p = Patterns::load(&Rooted::open(d.path()).unwrap()).unwrap();
        assert!(p.ignored("a.log"));
        assert!(!p.ignored("keep.log"));
        assert!(p.ignored("build/x/y"));
        assert!(p.ignored("deep/down/secret"));
        assert!(p.ignored("secret"));
        assert!(p.ignored("tmpfile"));
        assert!(!p.ignored("src/main.rs"));
        assert!(
            !p.ignored("dir/a.log"),
            "a single-segment pattern matches at the top only"
        );
        assert!(glob("**/*.rs", "a/b/c.rs") && glob("*.rs", "c.rs") && !glob("*.rs", "a/c.rs"));
    }
}
