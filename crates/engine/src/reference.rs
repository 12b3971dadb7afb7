//! Image references ("busybox", "quay.io/org/app:1.2", "name@sha256:...") parsed and
//! normalised the way Docker's `distribution/reference` package does, so that every
//! command and API endpoint agrees with the Docker CLI about which image a string names.
//!
//! The grammar is matched by hand (no regex engine) but accepts exactly the language of
//! Docker's anchored expressions:
//!
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [ domain "/" ] path
//! domain      := host [ ":" port ]        host := domain-name | "[" ipv6 "]"
//! domain-name := component ( "." component )*   component := [A-Za-z0-9] ( [A-Za-z0-9-]* [A-Za-z0-9] )?
//! path        := path-component ( "/" path-component )*
//! path-component := [a-z0-9]+ ( separator [a-z0-9]+ )*   separator := "." | "_" | "__" | "-"+
//! tag         := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest      := algorithm ":" hex{32,}
//! ```

use std::fmt;
use std::str::FromStr;

/// Registry that Docker assumes when a reference names none.
const DEFAULT_DOMAIN: &str = "docker.io";
/// Historic Docker Hub host name that users still type and Docker folds into the default.
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of Docker Hub's official images, implied for single-component Hub names.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag Docker implies when a reference carries neither tag nor digest.
const DEFAULT_TAG: &str = "latest";
/// Docker's limit on the repository path (the registry host is not counted since v0.6).
const MAX_PATH_LEN: usize = 255;
/// Docker's limit on tag length.
const MAX_TAG_LEN: usize = 128;
/// Shortest hex part the reference grammar accepts before the algorithm is even looked at.
const MIN_DIGEST_HEX_LEN: usize = 32;

/// Errors from parsing an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Docker's catch-all wording, kept verbatim because clients match on it.
    #[error("invalid reference format")]
    InvalidFormat,
    /// Upper case in the repository path; carries the path part that was checked, as Docker reports it.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RepositoryNotLowercase(String),
    /// Upper case that only the full-grammar check could catch (e.g. a first component that is neither a valid host nor path).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// Repository path longer than Docker's 255-character limit.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// A bare 64-hex string is refused as a name because it would be mistaken for an image id.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexadecimalName(String),
    /// Tag of valid characters but longer than 128; named separately so users learn the real limit.
    #[error("invalid reference format: tag ({0}) must not be more than 128 characters")]
    TagTooLong(String),
    /// A tag given on its own (not inside a reference) that breaks the tag grammar.
    #[error("invalid tag format")]
    InvalidTag,
    /// Digest whose hex part is malformed for its algorithm (e.g. upper case), worded as go-digest does.
    #[error("invalid checksum digest format")]
    InvalidDigestFormat,
    /// Digest whose hex part has the wrong length for its algorithm, worded as go-digest does.
    #[error("invalid checksum digest length")]
    InvalidDigestLength,
    /// Well-formed digest using an algorithm Docker cannot verify.
    #[error("unsupported digest algorithm")]
    UnsupportedDigest,
}

/// A fully normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Reference {
    /// Registry host, with port if any; never empty after parsing.
    registry: String,
    /// Repository path inside the registry, with "library/" already applied for Hub officials.
    repository: String,
    /// Tag, kept even alongside a digest because `name:tag@digest` is legal Docker input.
    tag: Option<String>,
    /// "algorithm:hex" digest, already validated.
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalises: "busybox" -> docker.io/library/busybox:latest ; adds tag "latest" only when neither tag nor digest given.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut reference = Self::parse_named(s)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(reference)
    }

    /// Parses without adding the default "latest" tag (for `images busybox` filters, `rmi` lookups etc).
    pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
        // Checked on the raw input, before normalisation, so "<hex>:tag" and
        // "docker.io/<hex>" stay usable while a bare id is never taken for a name.
        if is_lower_hex(s) && s.len() == 64 {
            return Err(ReferenceError::HexadecimalName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        // Docker checks case on everything before the first ':' of the remainder,
        // which gives a precise message for the common mistake of an upper-case name.
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::RepositoryNotLowercase(remote.to_string()));
        }
        let full = format!("{domain}/{remainder}");
        let parts = parse_full(&full)?;
        Ok(Reference {
            registry: parts.domain.to_string(),
            repository: parts.path.to_string(),
            tag: parts.tag.map(str::to_string),
            digest: parts.digest.map(str::to_string),
        })
    }

    /// Registry host (and port), e.g. "docker.io", "localhost:5000", "quay.io".
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path inside the registry, e.g. "library/busybox", "foo/bar".
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Tag, if one was given or defaulted.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Digest "algorithm:hex", if one was given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// "docker.io/library/busybox"
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Docker's familiar name: "busybox", "user/app", "localhost:5000/foo"
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_DOMAIN {
            return self.name();
        }
        // Only a single component after "library/" is shortened: "library/a/b" must keep
        // its prefix, or it would re-parse as the different repository "a/b".
        match self.repository.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// familiar name + ":tag" and/or "@digest", e.g. "busybox:latest" — what `docker images`/`ps` show
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.push_suffix(&mut out);
        out
    }

    /// Returns a copy with the given tag (validated) and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag_shape(tag) || tag.len() > MAX_TAG_LEN {
            return Err(ReferenceError::InvalidTag);
        }
        Ok(Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// Appends ":tag" and "@digest" so that full and familiar forms share one ordering.
    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

/// Prints the canonical form, which is what registries and the content store key on.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

/// Lets `"busybox".parse::<Reference>()` behave exactly like [`Reference::parse`].
impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// True for a valid digest string "algorithm:hex" (sha256 needs 64 lowercase hex, sha512 128).
pub fn is_valid_digest(s: &str) -> bool {
    validate_digest(s).is_ok()
}

/// True when `s` could be an image/container id prefix rather than a name: 1..=64 lowercase hex chars (with optional "sha256:" prefix).
pub fn looks_like_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (1..=64).contains(&hex.len()) && is_lower_hex(hex)
}

/// Splits off the registry the way Docker guesses it: the first component counts as a
/// host only when it cannot be a Hub namespace (has '.', ':', upper case, or is "localhost").
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        // A lone component is always a Hub official image, even "localhost" or "a.com";
        // otherwise "busybox:1.0" would be read as host "busybox", port "1.0".
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) =
        if first == "localhost" || first.contains(['.', ':']) || first.to_lowercase() != first {
            let domain = if first == LEGACY_DEFAULT_DOMAIN {
                DEFAULT_DOMAIN
            } else {
                first
            };
            (domain, rest)
        } else {
            (DEFAULT_DOMAIN, name)
        };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_string())
    }
}

/// Pieces of a reference that matched the grammar, borrowed from the input.
struct Parts<'a> {
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Why the grammar rejected a string; the long-tag case is kept apart for a clearer message.
enum Mismatch {
    Invalid,
    TagTooLong(String),
}

/// Docker's un-normalised `Parse`, applied to "domain/remainder".
fn parse_full(s: &str) -> Result<Parts<'_>, ReferenceError> {
    let (domain, path, tag, digest) = match match_reference(s) {
        Ok(found) => found,
        Err(mismatch) => {
            // Docker re-tries in lower case so that names failing only on case get a
            // case-specific message rather than the generic one.
            let lower = s.to_lowercase();
            if lower != s && match_reference(&lower).is_ok() {
                return Err(ReferenceError::NameContainsUppercase);
            }
            return Err(match mismatch {
                Mismatch::Invalid => ReferenceError::InvalidFormat,
                Mismatch::TagTooLong(tag) => ReferenceError::TagTooLong(tag),
            });
        }
    };
    if path.len() > MAX_PATH_LEN {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(digest) = digest {
        validate_digest(digest)?;
    }
    // Docker would accept e.g. "a_b.c/d" as a domain-less path, but every caller here needs
    // a registry to talk to, so such input is refused instead of yielding an empty one.
    let domain = domain.ok_or(ReferenceError::InvalidFormat)?;
    Ok(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// Matched (domain, path, tag, digest) of a whole reference string.
type Matched<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);

/// Whole-string match of `[domain "/"] path [":" tag] ["@" digest]`, preferring the
/// domain reading as Docker's leftmost-first regex does.
fn match_reference(s: &str) -> Result<Matched<'_>, Mismatch> {
    let mut first_failure = None;
    if let Some((domain, rest)) = s.split_once('/') {
        if is_domain(domain) {
            match match_remainder(rest) {
                Ok((path, tag, digest)) => return Ok((Some(domain), path, tag, digest)),
                Err(mismatch) => first_failure = Some(mismatch),
            }
        }
    }
    match match_remainder(s) {
        Ok((path, tag, digest)) => Ok((None, path, tag, digest)),
        Err(Mismatch::TagTooLong(tag)) => Err(Mismatch::TagTooLong(tag)),
        Err(Mismatch::Invalid) => Err(first_failure.unwrap_or(Mismatch::Invalid)),
    }
}

/// Remainder without domain: path, optional tag, optional digest.
type Remainder<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// Matches `path [":" tag] ["@" digest]`; the path ends at the first ':' or '@' because
/// neither can occur in a path, so there is exactly one way to split.
fn match_remainder(s: &str) -> Result<Remainder<'_>, Mismatch> {
    let path_end = s.find([':', '@']).unwrap_or(s.len());
    let path = &s[..path_end];
    if !is_path(path) {
        return Err(Mismatch::Invalid);
    }
    let mut rest = &s[path_end..];
    let mut tag = None;
    let mut too_long = None;
    if let Some(after_colon) = rest.strip_prefix(':') {
        let tag_end = after_colon.find('@').unwrap_or(after_colon.len());
        let candidate = &after_colon[..tag_end];
        if !is_tag_shape(candidate) {
            return Err(Mismatch::Invalid);
        }
        if candidate.len() > MAX_TAG_LEN {
            // Remember it, but only report it if nothing else is wrong.
            too_long = Some(candidate.to_string());
        }
        tag = Some(candidate);
        rest = &after_colon[tag_end..];
    }
    let mut digest = None;
    if let Some(after_at) = rest.strip_prefix('@') {
        if !is_digest_shape(after_at) {
            return Err(Mismatch::Invalid);
        }
        digest = Some(after_at);
    } else if !rest.is_empty() {
        return Err(Mismatch::Invalid);
    }
    match too_long {
        Some(tag) => Err(Mismatch::TagTooLong(tag)),
        None => Ok((path, tag, digest)),
    }
}

/// Host (DNS-like name or bracketed IPv6) with an optional numeric port.
fn is_domain(s: &str) -> bool {
    if let Some(bracketed) = s.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return false;
        };
        let inside_ok =
            !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        return inside_ok && is_optional_port(after);
    }
    let (host, port) = match s.find(':') {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    host.split('.').all(is_domain_component) && is_optional_port(port)
}

/// Empty, or ':' followed by at least one digit.
fn is_optional_port(s: &str) -> bool {
    match s.strip_prefix(':') {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => s.is_empty(),
    }
}

/// One dot-separated label of a host name; hyphens only inside, as DNS requires.
fn is_domain_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            first != b'-'
                && last != b'-'
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    }
}

/// One or more path components separated by single slashes ("a//b" has an empty one).
fn is_path(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// Runs of [a-z0-9] joined by exactly one separator: ".", "_", "__", or any number of "-".
fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < bytes.len() && is_lower_alnum(bytes[i]) {
            i += 1;
        }
        if i == run_start {
            // Empty component, leading separator, or separator at the very end.
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !is_lower_alnum(bytes[i]) {
            i += 1;
        }
        let separator = &bytes[sep_start..i];
        let ok = matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-');
        if !ok {
            return false;
        }
    }
}

/// The alphanumeric atom of path components; upper case is deliberately excluded.
fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Tag characters without the length limit, so an over-long tag can be told apart.
fn is_tag_shape(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(first) if is_word(first) => bytes.all(|b| is_word(b) || b == b'.' || b == b'-'),
        _ => false,
    }
}

/// Go's ASCII `\w`.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The loose digest shape the reference grammar accepts; the algorithm is checked later.
fn is_digest_shape(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|part| {
        let mut bytes = part.bytes();
        matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= MIN_DIGEST_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Hex length of each algorithm Docker can verify.
fn digest_hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// go-digest's validation, so errors (and acceptance) match what the Docker daemon reports.
fn validate_digest(s: &str) -> Result<(), ReferenceError> {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return Err(ReferenceError::InvalidDigestFormat);
    };
    if algorithm.is_empty() || encoded.is_empty() {
        return Err(ReferenceError::InvalidDigestFormat);
    }
    match digest_hex_len(algorithm) {
        Some(expected) => {
            if encoded.len() != expected {
                Err(ReferenceError::InvalidDigestLength)
            } else if is_lower_hex(encoded) {
                Ok(())
            } else {
                Err(ReferenceError::InvalidDigestFormat)
            }
        }
        // Unknown algorithms are "unsupported" only when they are at least well formed.
        None if is_generic_digest(algorithm, encoded) => Err(ReferenceError::UnsupportedDigest),
        None => Err(ReferenceError::InvalidDigestFormat),
    }
}

/// go-digest's general digest syntax, used to word errors for algorithms it does not know.
fn is_generic_digest(algorithm: &str, encoded: &str) -> bool {
    let algorithm_ok = algorithm.split(['.', '+', '_', '-']).all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let encoded_ok = encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-');
    algorithm_ok && encoded_ok
}

/// Lowercase hex only: ids and digests are always printed that way, so upper case is not an id.
fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn digest() -> String {
        format!("sha256:{HEX64}")
    }

    fn ok(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse, got {e}"))
    }

    fn err(s: &str) -> ReferenceError {
        match Reference::parse(s) {
            Ok(r) => panic!("{s:?} should be refused, parsed as {r}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bare_name_is_fully_normalised() {
        let r = ok("busybox");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    }

    #[test]
    fn hub_spellings_are_equivalent() {
        let expected = ok("busybox");
        for s in [
            "busybox:latest",
            "library/busybox",
            "library/busybox:latest",
            "docker.io/busybox",
            "docker.io/library/busybox",
            "docker.io/library/busybox:latest",
            "index.docker.io/busybox",
            "index.docker.io/library/busybox:latest",
        ] {
            assert_eq!(ok(s), expected, "{s}");
        }
    }

    #[test]
    fn user_repository_on_hub() {
        let r = ok("user/app");
        assert_eq!(r.to_string(), "docker.io/user/app:latest");
        assert_eq!(r.familiar_name(), "user/app");
        assert_eq!(r.familiar(), "user/app:latest");
        assert_eq!(
            ok("index.docker.io/user/app:v1").to_string(),
            "docker.io/user/app:v1"
        );
    }

    #[test]
    fn parse_named_does_not_add_latest() {
        let r = Reference::parse_named("busybox").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert_eq!(r.familiar(), "busybox");
        let tagged = Reference::parse_named("busybox:1.36").unwrap();
        assert_eq!(tagged.tag(), Some("1.36"));
    }

    #[test]
    fn localhost_is_a_registry_only_with_a_path() {
        let r = ok("localhost/foo");
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.repository(), "foo");
        assert_eq!(r.familiar(), "localhost/foo:latest");

        let lone = ok("localhost");
        assert_eq!(lone.to_string(), "docker.io/library/localhost:latest");
    }

    #[test]
    fn localhost_with_port() {
        let r = ok("localhost:5000/x");
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "x");
        assert_eq!(r.familiar_name(), "localhost:5000/x");
        assert_eq!(r.to_string(), "localhost:5000/x:latest");

        // Without a slash, the port is a tag of Hub's "localhost".
        let lone = ok("localhost:5000");
        assert_eq!(lone.repository(), "library/localhost");
        assert_eq!(lone.tag(), Some("5000"));
    }

    #[test]
    fn registry_with_port_and_nested_path() {
        let r = ok("registry.example.com:5000/team/sub/app:1.0");
        assert_eq!(r.registry(), "registry.example.com:5000");
        assert_eq!(r.repository(), "team/sub/app");
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.familiar(), "registry.example.com:5000/team/sub/app:1.0");
        let q = ok("quay.io/foo");
        assert_eq!(q.registry(), "quay.io");
        assert_eq!(q.repository(), "foo", "library/ applies to docker.io only");
    }

    #[test]
    fn ipv4_registries() {
        let r = ok("127.0.0.1:5000/debian");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "debian");
        assert_eq!(ok("192.168.0.1:8/debian").registry(), "192.168.0.1:8");
        // A lone dotted name is still a Hub official image.
        assert_eq!(ok("192.168.0.1").repository(), "library/192.168.0.1");
        assert_eq!(ok("192.168.0.1:80").tag(), Some("80"));
    }

    #[test]
    fn ipv6_registries() {
        let r = ok("[fc00::1]:5000/docker/docker");
        assert_eq!(r.registry(), "[fc00::1]:5000");
        assert_eq!(r.repository(), "docker/docker");
        assert_eq!(ok("[::1]/foo").registry(), "[::1]");
        assert_eq!(
            ok("[fc00:1:2:3:4:5:6:7]:5000/library/debian").registry(),
            "[fc00:1:2:3:4:5:6:7]:5000"
        );
        for bad in [
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "[]:5000/foo",
            "[::1]:/foo",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digest_only_gets_no_default_tag() {
        let s = format!("busybox@{}", digest());
        let r = ok(&s);
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(digest().as_str()));
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@{}", digest())
        );
        assert_eq!(r.familiar(), s);
    }

    #[test]
    fn tag_and_digest_are_both_kept() {
        let s = format!("localhost:5000/foo/bar:v2@{}", digest());
        let r = ok(&s);
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.digest(), Some(digest().as_str()));
        assert_eq!(r.to_string(), s);
        assert_eq!(r.familiar(), s);
        let hub = ok(&format!("busybox:latest@{}", digest()));
        assert_eq!(
            hub.to_string(),
            format!("docker.io/library/busybox:latest@{}", digest())
        );
    }

    #[test]
    fn familiar_forms() {
        assert_eq!(ok("docker.io/library/redis:7").familiar(), "redis:7");
        assert_eq!(
            ok("docker.io/dmcgowan/myapp").familiar(),
            "dmcgowan/myapp:latest"
        );
        assert_eq!(
            ok("quay.io/coreos/etcd:v3").familiar(),
            "quay.io/coreos/etcd:v3"
        );
        // Nested official paths keep "library/" so the familiar form still round-trips.
        assert_eq!(ok("library/foo/bar").familiar_name(), "library/foo/bar");
        assert_eq!(ok("nonlibrary/ubuntu").familiar_name(), "nonlibrary/ubuntu");
    }

    #[test]
    fn display_and_from_str_round_trip() {
        for s in [
            "busybox",
            "user/app:1",
            "localhost:5000/x",
            "[::1]:5000/a/b:c",
            "quay.io/a/b@sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa",
        ] {
            let r: Reference = s.parse().unwrap();
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r, "{s}");
            assert_eq!(Reference::parse(&r.familiar()).unwrap(), r, "{s}");
        }
    }

    #[test]
    fn upper_case_repository_is_refused_with_docker_message() {
        let e = err("Busybox");
        assert_eq!(
            e,
            ReferenceError::RepositoryNotLowercase("library/Busybox".into())
        );
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            err("docker/Docker"),
            ReferenceError::RepositoryNotLowercase("docker/Docker".into())
        );
        assert_eq!(
            err("localhost:5000/Foo:tag"),
            ReferenceError::RepositoryNotLowercase("Foo".into())
        );
        assert_eq!(
            err("docker.io/docker/Docker"),
            ReferenceError::RepositoryNotLowercase("docker/Docker".into())
        );
    }

    #[test]
    fn upper_case_first_component_is_a_registry() {
        let r = ok("Docker/docker");
        assert_eq!(r.registry(), "Docker");
        assert_eq!(r.repository(), "docker");
        assert_eq!(ok("LOCALDOMAIN/library/debian").registry(), "LOCALDOMAIN");
        // Neither a valid host nor a valid path until lower-cased.
        assert_eq!(err("FOO_x/bar"), ReferenceError::NameContainsUppercase);
        assert_eq!(
            ReferenceError::NameContainsUppercase.to_string(),
            "repository name must be lowercase"
        );
    }

    #[test]
    fn upper_case_tags_are_fine() {
        let r = ok("busybox:Latest_1.0-rc.2");
        assert_eq!(r.tag(), Some("Latest_1.0-rc.2"));
        assert_eq!(ok("busybox:_x").tag(), Some("_x"));
    }

    #[test]
    fn bad_tag_characters_are_refused() {
        for bad in [
            "busybox:fo$z$",
            "repo:Foo@3cc",
            "repo:-foo",
            "repo:..",
            "repo:.x",
            "repo:%goodbye",
            "repo:#hashtagit",
            "repo:F)xcz(",
            "repo:a:b",
            "repo:a/b",
            "repo:tâg",
        ] {
            assert_eq!(err(bad), ReferenceError::InvalidFormat, "{bad}");
        }
    }

    #[test]
    fn tag_length_limit() {
        let max = "t".repeat(128);
        assert_eq!(ok(&format!("busybox:{max}")).tag(), Some(max.as_str()));
        let long = "t".repeat(129);
        let e = err(&format!("busybox:{long}"));
        assert_eq!(e, ReferenceError::TagTooLong(long.clone()));
        assert!(e.to_string().starts_with("invalid reference format: tag ("));
        // Another fault wins over the length, since the grammar fails there first.
        assert_eq!(
            err(&format!("busybox:{long}@sha256:bad")),
            ReferenceError::InvalidFormat
        );
    }

    #[test]
    fn empty_and_separator_only_inputs_are_refused() {
        for bad in [
            "",
            ":",
            "@",
            "/",
            ":latest",
            "busybox:",
            "busybox@",
            "busybox:@",
        ] {
            assert_eq!(err(bad), ReferenceError::InvalidFormat, "{bad:?}");
        }
        assert_eq!(
            ReferenceError::InvalidFormat.to_string(),
            "invalid reference format"
        );
    }

    #[test]
    fn malformed_digests_are_refused() {
        assert_eq!(err("busybox@sha256:"), ReferenceError::InvalidFormat);
        assert_eq!(err("busybox@sha256:abc"), ReferenceError::InvalidFormat);
        assert_eq!(
            err(&format!("busybox@{HEX64}")),
            ReferenceError::InvalidFormat
        );
        assert_eq!(
            err(&format!("busybox@sha256:{}", HEX64.to_uppercase())),
            ReferenceError::InvalidDigestFormat
        );
        assert_eq!(
            err(&format!("busybox@sha256:{}", &HEX64[..40])),
            ReferenceError::InvalidDigestLength
        );
        assert_eq!(
            err(&format!("busybox@md5:{}", &HEX64[..32])),
            ReferenceError::UnsupportedDigest
        );
        // Docker's case check covers everything before the first ':', so an upper-case
        // algorithm is reported against the name; kept for message compatibility.
        assert_eq!(
            err(&format!("busybox@MD5:{}", &HEX64[..32])),
            ReferenceError::RepositoryNotLowercase("library/busybox@MD5".into())
        );
        assert_eq!(
            ReferenceError::InvalidDigestLength.to_string(),
            "invalid checksum digest length"
        );
    }

    #[test]
    fn slashes_must_separate_non_empty_components() {
        for bad in [
            "docker//docker",
            "docker///docker",
            "docker.io/docker///docker",
            "docker/",
            "/busybox",
            "localhost/",
            "quay.io//foo",
        ] {
            assert_eq!(err(bad), ReferenceError::InvalidFormat, "{bad}");
        }
    }

    #[test]
    fn path_separators() {
        for good in [
            "dock__er/docker",
            "docker---rules/docker",
            "foo/a.b-c_d__e/f",
            "d/docker",
            "jess/t",
            "foo/a-b.c_d",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "-docker/docker",
            "docker-/docker",
            "____/____",
            "_docker/_docker",
            "foo/dock..er",
            "foo/dock_.er",
            "foo/dock-.er",
            "foo/a___b",
            "foo/bar_",
            "foo/.bar",
            "-docker.io/docker/docker",
            "https://github.com/docker/docker",
            "aa/asdf$$^/aa",
            "busybox ",
            "busybox\n",
            " busybox",
            "bü/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domain_less_path_reading_is_refused() {
        // Docker would return a reference with an empty registry here.
        assert_eq!(err("a_b.c/d"), ReferenceError::InvalidFormat);
    }

    #[test]
    fn hexadecimal_names() {
        let e = err(HEX64);
        assert_eq!(e, ReferenceError::HexadecimalName(HEX64.into()));
        assert_eq!(
            e.to_string(),
            format!(
                "invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"
            )
        );
        // With a tag or a registry the name is unambiguous, and 63 hex is not an id.
        assert_eq!(
            ok(&format!("{HEX64}:v1")).repository(),
            format!("library/{HEX64}")
        );
        assert_eq!(
            ok(&format!("docker.io/{HEX64}")).repository(),
            format!("library/{HEX64}")
        );
        assert!(Reference::parse(&HEX64[..63]).is_ok());
        assert!(Reference::parse(
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"
        )
        .is_ok());
    }

    #[test]
    fn repository_length_limit_excludes_registry() {
        let max = "a".repeat(255);
        assert!(Reference::parse(&format!("example.com/{max}")).is_ok());
        assert_eq!(
            err(&format!("example.com/{}", "a".repeat(256))),
            ReferenceError::NameTooLong
        );
        // "library/" counts towards the path of Hub official images.
        assert!(Reference::parse(&"a".repeat(247)).is_ok());
        assert_eq!(err(&"a".repeat(248)), ReferenceError::NameTooLong);
        assert_eq!(
            ReferenceError::NameTooLong.to_string(),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn with_tag_replaces_tag_and_drops_digest() {
        let r = ok(&format!("busybox:old@{}", digest()));
        let t = r.with_tag("new").unwrap();
        assert_eq!(t.tag(), Some("new"));
        assert_eq!(t.digest(), None);
        assert_eq!(t.to_string(), "docker.io/library/busybox:new");
        assert_eq!(t.with_tag("x").unwrap().familiar(), "busybox:x");
    }

    #[test]
    fn with_tag_validates() {
        let r = ok("busybox");
        for bad in ["", "-x", ".x", "a b", "a:b", "a@b", "a/b"] {
            assert_eq!(r.with_tag(bad), Err(ReferenceError::InvalidTag), "{bad:?}");
        }
        assert_eq!(
            r.with_tag(&"t".repeat(129)),
            Err(ReferenceError::InvalidTag)
        );
        assert!(r.with_tag(&"t".repeat(128)).is_ok());
        assert_eq!(ReferenceError::InvalidTag.to_string(), "invalid tag format");
    }

    #[test]
    fn digest_validity() {
        assert!(is_valid_digest(&digest()));
        assert!(is_valid_digest(&format!("sha512:{HEX64}{HEX64}")));
        assert!(is_valid_digest(&format!("sha384:{HEX64}{}", &HEX64[..32])));
        assert!(!is_valid_digest(HEX64));
        assert!(!is_valid_digest(&format!(
            "sha256:{}",
            HEX64.to_uppercase()
        )));
        assert!(!is_valid_digest(&format!("sha256:{HEX64}0")));
        assert!(!is_valid_digest(&format!("sha512:{HEX64}")));
        assert!(!is_valid_digest(&format!("md5:{}", &HEX64[..32])));
        assert!(!is_valid_digest("sha256:"));
        assert!(!is_valid_digest(":abc"));
        assert!(!is_valid_digest(""));
    }

    #[test]
    fn id_detection() {
        assert!(looks_like_id("a"));
        assert!(looks_like_id("7cc4b5ae"));
        assert!(looks_like_id(HEX64));
        assert!(looks_like_id(&digest()));
        assert!(looks_like_id("sha256:7cc4"));
        assert!(!looks_like_id(""));
        assert!(!looks_like_id("sha256:"));
        assert!(!looks_like_id(&format!("{HEX64}0")));
        assert!(!looks_like_id("7CC4"));
        assert!(!looks_like_id("busybox"));
        assert!(!looks_like_id("sha512:abcd"));
    }

    #[test]
    fn serde_round_trip_keeps_all_fields() {
        let r = ok(&format!("quay.io/a/b:c@{}", digest()));
        let json = serde_json::to_string(&r).unwrap();
        let back: Reference = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(json.contains("\"registry\":\"quay.io\""));
    }

    #[test]
    fn equal_references_hash_equal() {
        use std::collections::HashSet;
        let set: HashSet<Reference> = ["busybox", "library/busybox:latest", "docker.io/busybox"]
            .into_iter()
            .map(ok)
            .collect();
        assert_eq!(set.len(), 1);
    }
}
