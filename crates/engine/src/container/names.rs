//! Container names: unique across processes because each is a file created with O_EXCL.

use crate::error::{Error, ErrorKind, Result};
use crate::store::{self, Root};
use std::fs;

const ADJECTIVES: &[&str] = &[
    "admiring",
    "agile",
    "amazing",
    "angry",
    "awesome",
    "blissful",
    "bold",
    "brave",
    "busy",
    "calm",
    "charming",
    "clever",
    "cool",
    "crazy",
    "dazzling",
    "determined",
    "dreamy",
    "eager",
    "ecstatic",
    "elegant",
    "epic",
    "fervent",
    "focused",
    "friendly",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "happy",
    "hopeful",
    "inspiring",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "nervous",
    "nice",
    "nifty",
    "optimistic",
    "peaceful",
    "pensive",
    "practical",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "sweet",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "vigilant",
    "wizardly",
    "youthful",
    "zealous",
];
const SURNAMES: &[&str] = &[
    "agnesi",
    "babbage",
    "bohr",
    "cannon",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goldberg",
    "hamilton",
    "hawking",
    "hodgkin",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "pasteur",
    "planck",
    "ritchie",
    "shannon",
    "thompson",
    "tesla",
    "torvalds",
    "turing",
    "wilson",
    "wozniak",
    "wright",
    "yalow",
    "zhukovsky",
    "lumiere",
    "mirzakhani",
    "ramanujan",
    "sammet",
];

/// Checks Docker's name rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate(name: &str) -> Result<()> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// The id a name points at.
pub fn lookup(root: &Root, name: &str) -> Option<String> {
    if validate(name).is_err() {
        return None;
    }
    fs::read_to_string(root.join("names").join(name))
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
}

/// Claims `name` for `id`; fails with Docker's conflict message when taken.
pub fn reserve(root: &Root, name: &str, id: &str) -> Result<()> {
    validate(name)?;
    let p = root.join("names").join(name);
    // The creating process's pid lets others tell an in-progress create from the leftover
    // of a crashed one. The file is written whole aside, then linked into place (which fails
    // when the name is taken): a kill or a full disk never leaves an empty name behind.
    let content = format!("{id}\n{}\n", std::process::id());
    for _ in 0..2 {
        match store::link_new(&root.temp_path("name"), &p, content.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let content = fs::read_to_string(&p).unwrap_or_default();
                let mut lines = content.lines();
                let owner = lines.next().unwrap_or("").trim().to_string();
                let creator: i32 = lines
                    .next()
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(0);
                // An empty or garbled file is an older berth's crash leftover.
                let stale = owner.len() != 64
                    || (!root.container_dir(&owner).exists() && !store::pid_alive(creator));
                if stale {
                    let _ = fs::remove_file(&p);
                    continue;
                }
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                    ),
                ));
            }
            Err(e) => return Err(Error::io(format!("reserve name {name}"), e)),
        }
    }
    Err(Error::internal(format!("could not reserve name {name}")))
}

/// Frees `name` if it still points at `id`.
pub fn release(root: &Root, name: &str, id: &str) {
    if lookup(root, name).as_deref() == Some(id) {
        let _ = fs::remove_file(root.join("names").join(name));
    }
}

/// True for the name file at `path` that a killed create left: no container of its id, and
/// its creator gone.
pub fn is_stale(root: &Root, path: &std::path::Path) -> bool {
    let content = fs::read_to_string(path).unwrap_or_default();
    let mut lines = content.lines();
    let owner = lines.next().unwrap_or("").trim();
    let creator: i32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let held = owner.len() == 64 && root.container_dir(owner).exists();
    !held && !store::pid_alive(creator)
}

/// Removes the names killed creates left.
pub fn sweep(root: &Root) {
    let Ok(rd) = fs::read_dir(root.join("names")) else {
        return;
    };
    for e in rd.flatten() {
        if is_stale(root, &e.path()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Picks a free `adjective_surname` name and reserves it for `id`.
pub fn generate(root: &Root, id: &str) -> Result<String> {
    for attempt in 0..20 {
        let r = store::random_hex(4);
        let n = u32::from_str_radix(&r, 16).unwrap_or(0) as usize;
        let mut name = format!(
            "{}_{}",
            ADJECTIVES[n % ADJECTIVES.len()],
            SURNAMES[(n / ADJECTIVES.len()) % SURNAMES.len()]
        );
        if attempt > 5 {
            name.push_str(&(n % 10).to_string());
        }
        match reserve(root, &name, id) {
            Ok(()) => return Ok(name),
            // Taken: draw another. Anything else (a full disk) is the answer.
            Err(e) if e.kind == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(Error::internal("could not generate a free container name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_name_left_by_a_crash_holds_nothing() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        fs::create_dir_all(root.join("names")).unwrap();
        fs::write(root.join("names").join("web"), "").unwrap();
        let a = "a".repeat(64);
        reserve(&root, "web", &a).unwrap();
        assert_eq!(lookup(&root, "web").as_deref(), Some(a.as_str()));
        let tmp: Vec<_> = fs::read_dir(root.join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "the name's temp file stayed: {tmp:?}");
    }

    #[test]
    fn a_sweep_takes_only_names_of_killed_creates() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        fs::create_dir_all(root.container_dir(&a)).unwrap();
        reserve(&root, "kept", &a).unwrap();
        // A create under way: its container directory is not there yet.
        reserve(&root, "busy", &b).unwrap();
        fs::write(root.join("names/killed"), format!("{b}\n4194305\n")).unwrap();
        sweep(&root);
        assert_eq!(lookup(&root, "kept").as_deref(), Some(a.as_str()));
        assert_eq!(lookup(&root, "busy").as_deref(), Some(b.as_str()));
        assert_eq!(lookup(&root, "killed"), None);
    }

    #[test]
    fn names_are_unique_and_released() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::open(d.path()).unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        fs::create_dir_all(root.container_dir(&a)).unwrap();
        reserve(&root, "web", &a).unwrap();
        let e = reserve(&root, "web", &b).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AlreadyExists);
        assert!(e.message.contains("is already in use"));
        release(&root, "web", &a);
        reserve(&root, "web", &b).unwrap();
        assert!(validate("-bad").is_err());
        assert!(validate("x").is_err());
        assert!(validate("ok_name.1-2").is_ok());
        let g = generate(&root, &a).unwrap();
        assert!(g.contains('_'));
    }
}
