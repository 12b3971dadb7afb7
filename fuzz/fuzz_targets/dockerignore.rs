//! `.dockerignore`: any text and paths match without panicking, and the last rule decides: a literal path added last is ignored, with everything below it, and an exception added last brings it back.
#![no_main]

use berth_engine::build::ignore::Patterns;
use libfuzzer_sys::fuzz_target;

/// A context path that is its own pattern: no glob or rule syntax, no empty, `.` or `..` parts.
fn literal(p: &str) -> bool {
    !p.is_empty()
        && !p.contains(['*', '?', '[', '\\', '!', '#', '\n', '\r'])
        && p.trim() == p
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c.trim() == c)
}

// The input is the `.dockerignore` text, then after a NUL the paths to try, one a line, so
// that seeds are plain text.
fuzz_target!(|input: &str| {
    let (text, paths) = input.split_once('\0').unwrap_or((input, ""));
    let paths: Vec<&str> = paths.split('\n').collect();
    let patterns = Patterns::parse(text);
    for p in paths.iter().copied().take(8) {
        let _ = patterns.ignored(p);
        let _ = patterns.may_except_under(p);
        if !literal(p) {
            continue;
        }
        let excluded = Patterns::parse(&format!("{text}\n{p}\n"));
        assert!(excluded.ignored(p), "{p:?} added last is ignored");
        assert!(
            excluded.ignored(&format!("{p}/below")),
            "{p:?} excludes what is under it"
        );
        let excepted = Patterns::parse(&format!("{text}\n!{p}\n"));
        assert!(!excepted.ignored(p), "!{p:?} added last brings it back");
    }
    assert!(!Patterns::parse("").ignored(paths[0]));
});
