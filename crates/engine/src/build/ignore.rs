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
    wildcard(
        &p,
        &s,
        |seg| *seg == "**",
        |seg, name| {
            wildcard(
                seg.as_bytes(),
                name.as_bytes(),
                |c| *c == b'*',
                |c, b| *c == b'?' || c == b,
            )
        },
    )
}

/// Matches `s` against `p`, where `star(e)` elements match any run of elements and
/// `one(e, x)` says whether any other element matches `x`. On a mismatch only the latest
/// star takes one more element: a later star can take whatever an earlier one could, so
/// nothing is lost, and the work stays |p| × |s| where trying every split was exponential
/// in the number of stars (a `.dockerignore` of `*a*a*a…` hung a build).
fn wildcard<P, S>(
    p: &[P],
    s: &[S],
    star: impl Fn(&P) -> bool,
    one: impl Fn(&P, &S) -> bool,
) -> bool {
    let (mut pi, mut si) = (0, 0);
    // The latest star's position, and where its match ends so far.
    let mut resume: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && star(&p[pi]) {
            resume = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && one(&p[pi], &s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, end)) = resume {
            resume = Some((sp, end + 1));
            pi = sp + 1;
            si = end + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(star)
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

    #[test]
    fn many_stars_match_in_polynomial_time() {
        // Found by the dockerignore fuzz target: each `*` or `**` multiplied the splits tried.
        let stars = "*a".repeat(30);
        let name = "a".repeat(60) + "b";
        assert!(!glob(&stars, &name));
        assert!(glob(&stars, &"a".repeat(60)));
        let deep = "**/".repeat(30) + "x";
        let path = "d/".repeat(60) + "y";
        assert!(!glob(&deep, &path));
        assert!(glob(&deep, &("d/".repeat(60) + "x")));
        let p = Patterns::parse(&format!("{}\n!keep", "*".repeat(40) + "z"));
        assert!(!p.ignored(&"y".repeat(200)));
    }

    #[test]
    fn globs_match_as_before() {
        for (pattern, path, want) in [
            ("*", "", true),
            ("", "", true),
            ("?", "", false),
            ("a*b*c", "abbbc", true),
            ("a*b*c", "acb", false),
            ("**", "a/b/c", true),
            ("a/**", "a", true),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/x/y/c", false),
            ("**/**/c", "c", true),
            ("*/?", "ab/c", true),
            ("*/?", "ab/cd", false),
            ("a**b", "axxb", true),
            ("a**b", "ax/xb", false),
        ] {
            assert_eq!(glob(pattern, path), want, "{pattern:?} {path:?}");
        }
    }
}
