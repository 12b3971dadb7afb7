//! `--format` / `inspect -f` templates: a subset of Go's text/template, plus
//! Docker's extra functions, evaluated over `serde_json::Value`.
//!
//! Go tells a missing map key (printed `<no value>`) apart from an explicit
//! nil (printed `<nil>`); to keep that distinction every evaluation yields an
//! `Option<Value>` where `None` is "missing".

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
#[cfg(test)]
mod testutil;

use serde_json::Value;
use std::fmt;

use exec::Exec;
use lex::lex;
use parse::{Node, Parser, Stop};

/// Errors from parsing or executing a format template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Docker prefixes both parse and execution failures this way.
        write!(f, "template parsing error: {}", self.0)
    }
}

impl std::error::Error for FormatError {}

/// Result of evaluating an expression; `None` is Go's invalid value ("missing").
type Val = Option<Value>;

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
    (line, col)
}

fn parse_err(src: &str, pos: usize, msg: impl fmt::Display) -> FormatError {
    FormatError(format!("template: :{}: {}", line_col(src, pos).0, msg))
}

/// A parsed Go-style template.
#[derive(Debug)]
pub struct Template {
    src: String,
    nodes: Vec<Node>,
}

impl Template {
    /// Parses a Go text/template subset.
    pub fn parse(src: &str) -> Result<Template, FormatError> {
        let items = lex(src)?;
        let mut parser = Parser {
            src,
            items,
            i: 0,
            vars: vec!["$".to_string()],
            range_depth: 0,
        };
        match parser.parse_nodes()? {
            (nodes, Stop::Eof) => Ok(Template {
                src: src.to_string(),
                nodes,
            }),
            (_, Stop::End) => Err(parser.err("unexpected {{end}}")),
            (_, Stop::Else) => Err(parser.err("unexpected {{else}}")),
        }
    }

    /// Executes against `data`.
    pub fn render(&self, data: &Value) -> Result<String, FormatError> {
        self.execute(data, false)
    }

    /// Executes as a table header row: Docker's header funcs are identities and missing keys print empty.
    pub(crate) fn render_header(&self, headers: &Value) -> Result<String, FormatError> {
        self.execute(headers, true)
    }

    fn execute(&self, data: &Value, header: bool) -> Result<String, FormatError> {
        let mut exec = Exec {
            src: &self.src,
            vars: vec![("$".to_string(), Some(data.clone()))],
            header,
        };
        let mut out = String::new();
        exec.walk(&self.nodes, &Some(data.clone()), &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::FormatError;

    #[test]
    fn error_display_and_source() {
        let e = FormatError("boom".into());
        assert_eq!(e.to_string(), "template parsing error: boom");
        let dyn_err: &dyn std::error::Error = &e;
        assert!(dyn_err.source().is_none());
    }
}
