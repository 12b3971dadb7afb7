//! The Dockerfile language: parser directives, comments, line continuations, heredocs, JSON
//! (exec) and shell forms, instruction flags, and variable substitution.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// One instruction as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Upper-case keyword (`RUN`, `COPY`, …).
    pub cmd: String,
    /// `--name=value` flags before the arguments.
    pub flags: BTreeMap<String, String>,
    /// The arguments, raw (after flags).
    pub rest: String,
    /// The JSON array form, when the arguments are one.
    pub json: Option<Vec<String>>,
    /// Heredoc bodies (`RUN <<EOF`), in order.
    pub heredocs: Vec<(String, String)>,
    /// The line as Docker prints it in `Step N/M : …`.
    pub original: String,
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Vec<Instruction>> {
    let out = parse_instructions(text)?;
    if out
        .first()
        .is_some_and(|f| f.cmd != "FROM" && f.cmd != "ARG")
    {
        return Err(Error::invalid(
            "the Dockerfile must begin with FROM (only ARG may come before it)",
        ));
    }
    if !out.iter().any(|f| f.cmd == "FROM") {
        return Err(Error::invalid(
            "no build stage in current context: the Dockerfile has no FROM",
        ));
    }
    Ok(out)
}

/// Parses instructions without the rules of a whole Dockerfile (an ONBUILD trigger is one
/// instruction with no FROM).
pub fn parse_instructions(text: &str) -> Result<Vec<Instruction>> {
    let mut escape = '\\';
    let mut lines: Vec<&str> = text.lines().collect();
    // Parser directives: leading `# key=value` comments only.
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        let Some(d) = t.strip_prefix('#') else { break };
        let Some((k, v)) = d.split_once('=') else {
            break;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "escape" => {
                escape = match v.trim() {
                    "`" => '`',
                    "\\" => '\\',
                    other => {
                        return Err(Error::invalid(format!(
                            "invalid escape token '{other}' does not match ` or \\"
                        )))
                    }
                }
            }
            "syntax" | "check" => {}
            _ => break,
        }
        start = i + 1;
    }
    lines.drain(..start);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        // Join continuations; comment lines inside a continued instruction are dropped.
        let mut full = String::new();
        let mut cur = t.trim_end().to_string();
        loop {
            if cur.ends_with(escape) {
                cur.pop();
                full.push_str(&cur);
                loop {
                    if i >= lines.len() {
                        cur = String::new();
                        break;
                    }
                    let next = lines[i];
                    i += 1;
                    let nt = next.trim_start();
                    if nt.starts_with('#') {
                        continue;
                    }
                    cur = next.trim_end().to_string();
                    break;
                }
                if cur.is_empty() && i >= lines.len() {
                    break;
                }
                continue;
            }
            full.push_str(&cur);
            break;
        }
        // A continuation that never reaches an instruction (a lone `\` line) is no
        // instruction at all, as in Docker, rather than one without a keyword.
        if full.trim().is_empty() {
            continue;
        }
        // The keyword may come from a continued line, indented: `\` then `    RUN x`.
        let full = full.trim_start();
        let (word, rest) = match full.split_once(char::is_whitespace) {
            Some((w, r)) => (w.to_string(), r.trim().to_string()),
            None => (full.to_string(), String::new()),
        };
        let cmd = word.to_ascii_uppercase();
        let (flags, rest) = split_flags(&rest);
        let mut heredocs = Vec::new();
        // Heredocs: `<<EOF` / `<<-EOF` / `<<"EOF"` markers in RUN, COPY and ADD.
        if matches!(cmd.as_str(), "RUN" | "COPY" | "ADD") {
            for marker in heredoc_markers(&rest) {
                let (name, strip_tabs) = marker;
                let mut body = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let content = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if content == name {
                        closed = true;
                        break;
                    }
                    body.push_str(content);
                    body.push('\n');
                }
                if !closed {
                    return Err(Error::invalid(format!("unterminated heredoc {name}")));
                }
                heredocs.push((name, body));
            }
        }
        let json = if rest.starts_with('[') {
            serde_json::from_str::<Vec<String>>(&rest).ok()
        } else {
            None
        };
        out.push(Instruction {
            original: format!(
                "{cmd} {}",
                full.split_once(char::is_whitespace)
                    .map(|x| x.1.trim())
                    .unwrap_or("")
            )
            .trim()
            .to_string(),
            cmd,
            flags,
            rest,
            json,
            heredocs,
        });
    }
    Ok(out)
}

fn split_flags(rest: &str) -> (BTreeMap<String, String>, String) {
    let mut flags = BTreeMap::new();
    let mut r = rest.trim_start();
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (k, v) = f[..end]
            .split_once('=')
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .unwrap_or((f[..end].to_string(), "true".into()));
        flags.insert(k, v);
        r = f[end..].trim_start();
    }
    (flags, r.to_string())
}

fn heredoc_markers(rest: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut s = rest;
    while let Some(p) = s.find("<<") {
        let mut m = &s[p + 2..];
        let strip = m.starts_with('-');
        if strip {
            m = &m[1..];
        }
        let m = m.trim_start_matches(['"', '\'']);
        let end = m
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(m.len());
        if end > 0 {
            out.push((m[..end].to_string(), strip));
        }
        s = &m[end..];
    }
    out
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` with `vars`; `\$`
/// stays a literal dollar.
pub fn substitute(s: &str, vars: &BTreeMap<String, String>, escape: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && i + 1 < chars.len() && chars[i + 1] == '$' {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        if chars[i + 1] == '{' {
            let Some(close) = chars[i + 2..].iter().position(|&x| x == '}') else {
                out.push(c);
                i += 1;
                continue;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            i += 3 + close;
            let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
                Some(p) => (
                    inner[..p].to_string(),
                    Some((&inner[p..p + 2], inner[p + 2..].to_string())),
                ),
                None => (inner.clone(), None),
            };
            let val = vars.get(&name).filter(|v| !v.is_empty());
            match op {
                Some((":-", d)) => out.push_str(
                    val.map(String::as_str)
                        .unwrap_or(&substitute(&d, vars, escape)),
                ),
                Some((":+", a)) => {
                    if val.is_some() {
                        out.push_str(&substitute(&a, vars, escape));
                    }
                }
                _ => out.push_str(vars.get(&name).map(String::as_str).unwrap_or("")),
            }
            continue;
        }
        let n = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .count();
        if n == 0 {
            out.push(c);
            i += 1;
            continue;
        }
        let name: String = chars[i + 1..i + 1 + n].iter().collect();
        out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
        i += 1 + n;
    }
    out
}

/// Splits `KEY=VALUE KEY2="V 2"` (or the legacy `KEY VALUE`) as ENV, LABEL and ARG take them.
pub fn key_values(s: &str) -> Result<Vec<(String, String)>> {
    let words = shell_words(s);
    if words.first().is_some_and(|w| !w.contains('=')) {
        let (k, v) = s
            .trim()
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .unwrap_or((s.trim().to_string(), String::new()));
        return Ok(vec![(k, v)]);
    }
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "syntax error - can't find = in \"{w}\". Must be of the form: name=value"
                    ))
                })
        })
        .collect()
}

/// Splits on whitespace, honouring quotes and backslash escapes.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = it.next() {
                    cur.push(n);
                }
                any = true;
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuation_to_nothing_is_no_instruction() {
        // Found by the dockerfile fuzz target: " \\" made an instruction with an empty keyword.
        assert_eq!(parse_instructions(" \\").unwrap(), vec![]);
        let list = parse("FROM busybox\n\\\n   \nRUN true\n\\").unwrap();
        let cmds: Vec<&str> = list.iter().map(|i| i.cmd.as_str()).collect();
        assert_eq!(cmds, ["FROM", "RUN"]);
        // Found on a longer run: the keyword on an indented continued line was read as "".
        let list = parse("FROM busybox\n\\\n    RUN echo hi\n").unwrap();
        assert_eq!(
            (list[1].cmd.as_str(), list[1].rest.as_str()),
            ("RUN", "echo hi")
        );
        assert_eq!(list[1].original, "RUN echo hi");
    }

    #[test]
    fn parses_forms_continuations_heredocs() {
        let df = "# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=busybox\nFROM $BASE AS build\n# comment\nRUN echo a \\\n  # inner comment\n  && echo b\nCOPY --chown=1:2 --from=x src /dst\nCMD [\"sh\", \"-c\", \"echo hi\"]\nRUN <<EOF\necho one\necho two\nEOF\nENV A=1 B=\"two words\"\n";
        let ins = parse(df).unwrap();
        let cmds: Vec<&str> = ins.iter().map(|i| i.cmd.as_str()).collect();
        assert_eq!(
            cmds,
            vec!["ARG", "FROM", "RUN", "COPY", "CMD", "RUN", "ENV"]
        );
        assert_eq!(ins[2].rest, "echo a   && echo b");
        assert_eq!(ins[3].flags["chown"], "1:2");
        assert_eq!(ins[3].flags["from"], "x");
        assert_eq!(ins[3].rest, "src /dst");
        assert_eq!(
            ins[4].json.as_ref().unwrap(),
            &vec!["sh".to_string(), "-c".into(), "echo hi".into()]
        );
        assert_eq!(
            ins[5].heredocs,
            vec![("EOF".to_string(), "echo one\necho two\n".to_string())]
        );
        assert_eq!(
            key_values(&ins[6].rest).unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert!(parse("RUN true\n").is_err());
        assert!(parse("# just a comment\n").is_err());
    }

    #[test]
    fn substitutes_like_docker() {
        let mut v = BTreeMap::new();
        v.insert("A".to_string(), "x".to_string());
        v.insert("E".to_string(), String::new());
        assert_eq!(
            substitute(
                "$A ${A} ${B:-def} ${A:+alt} ${B:+alt} ${E:-d} \\$A",
                &v,
                '\\'
            ),
            "x x def alt  d $A"
        );
        assert_eq!(substitute("/a/$A/c", &v, '\\'), "/a/x/c");
    }
}
