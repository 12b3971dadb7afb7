//! The parser: turns tokens into a tree of text, actions and if/with/range
//! branches, rejecting what Go rejects before anything runs (unknown functions,
//! undefined variables, `{{break}}` outside `{{range}}`).

use super::funcs::FUNCS;
use super::lex::{Item, Tok};
use super::{parse_err, FormatError};
use serde_json::Value;
use std::fmt;

/// Go's action keywords; `define`, `template` and `block` are known only to be refused.
const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "break", "continue", "define", "template", "block",
];

/// An operand of a command.
#[derive(Debug)]
pub(super) enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    Nil,
    Sub(Box<Pipe>, Vec<String>),
}

/// A pipeline with its variable declarations; `pos` and `text` are kept for execution errors.
#[derive(Debug)]
pub(super) struct Pipe {
    pub(super) decl: Vec<String>,
    pub(super) assign: bool,
    pub(super) cmds: Vec<Vec<Arg>>,
    pub(super) pos: usize,
    pub(super) text: String,
}

/// Which branching action a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    If,
    With,
    Range,
}

/// `{{if}}`, `{{with}}` or `{{range}}` with its bodies.
#[derive(Debug)]
pub(super) struct Branch {
    pub(super) kind: Kind,
    pub(super) pipe: Pipe,
    pub(super) body: Vec<Node>,
    pub(super) else_body: Vec<Node>,
}

/// A node of the parsed tree.
#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    Branch(Box<Branch>),
    Break,
    Continue,
}

/// What ended a run of nodes, so the caller can tell a stray `{{end}}` from a branch's own.
pub(super) enum Stop {
    Eof,
    End,
    Else,
}

/// Recursive-descent parser state; `vars` tracks declared variables by scope.
pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) items: Vec<Item>,
    pub(super) i: usize,
    pub(super) vars: Vec<String>,
    pub(super) range_depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.items.get(self.i).map(|it| &it.tok)
    }

    fn pos(&self) -> usize {
        self.items.get(self.i).map_or(self.src.len(), |it| it.pos)
    }

    /// An error at the current token.
    pub(super) fn err(&self, msg: impl fmt::Display) -> FormatError {
        parse_err(self.src, self.pos(), msg)
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), FormatError> {
        match self.peek() {
            Some(Tok::Close) => {
                self.i += 1;
                Ok(())
            }
            Some(t) => Err(self.err(format!("unexpected {} in {}", describe(t), ctx))),
            None => Err(self.err("unclosed action")),
        }
    }

    /// Parses up to `{{end}}`, `{{else}}` or the end of input.
    pub(super) fn parse_nodes(&mut self) -> Result<(Vec<Node>, Stop), FormatError> {
        let mut nodes = Vec::new();
        while let Some(tok) = self.peek() {
            match tok {
                Tok::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    self.i += 1;
                }
                Tok::Open => {
                    self.i += 1;
                    let keyword = match self.peek() {
                        Some(Tok::Ident(w)) if KEYWORDS.contains(&w.as_str()) => w.clone(),
                        _ => String::new(),
                    };
                    match keyword.as_str() {
                        "end" => {
                            self.i += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        "else" => {
                            self.i += 1;
                            return Ok((nodes, Stop::Else));
                        }
                        "if" | "with" | "range" => {
                            self.i += 1;
                            let kind = match keyword.as_str() {
                                "if" => Kind::If,
                                "with" => Kind::With,
                                _ => Kind::Range,
                            };
                            nodes.push(Node::Branch(Box::new(self.parse_branch(kind)?)));
                        }
                        "break" | "continue" => {
                            if self.range_depth == 0 {
                                return Err(
                                    self.err(format!("{{{{{}}}}} outside {{{{range}}}}", keyword))
                                );
                            }
                            self.i += 1;
                            self.expect_close(&keyword)?;
                            nodes.push(if keyword == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "" => {
                            nodes.push(Node::Action(self.parse_pipeline("command", false, false)?))
                        }
                        other => {
                            return Err(self.err(format!("{{{{{}}}}} is not supported", other)))
                        }
                    }
                }
                t => return Err(self.err(format!("unexpected {}", describe(t)))),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn parse_branch(&mut self, kind: Kind) -> Result<Branch, FormatError> {
        let ctx = match kind {
            Kind::If => "if",
            Kind::With => "with",
            Kind::Range => "range",
        };
        let mark = self.vars.len();
        let pipe = self.parse_pipeline(ctx, false, kind == Kind::Range)?;
        if kind == Kind::Range {
            self.range_depth += 1;
        }
        let (body, stop) = self.parse_nodes()?;
        if kind == Kind::Range {
            self.range_depth -= 1;
        }
        let else_body = match stop {
            Stop::Eof => return Err(self.err("unexpected EOF")),
            Stop::End => Vec::new(),
            Stop::Else => match self.peek() {
                // `{{else if}}` / `{{else with}}` nest a branch that shares our `{{end}}`.
                Some(Tok::Ident(w))
                    if (w == "if" && kind == Kind::If) || (w == "with" && kind == Kind::With) =>
                {
                    self.i += 1;
                    vec![Node::Branch(Box::new(self.parse_branch(kind)?))]
                }
                _ => {
                    self.expect_close("else")?;
                    match self.parse_nodes()? {
                        (nodes, Stop::End) => nodes,
                        (_, Stop::Eof) => return Err(self.err("unexpected EOF")),
                        (_, Stop::Else) => return Err(self.err("expected end; found {{else}}")),
                    }
                }
            },
        };
        self.vars.truncate(mark);
        Ok(Branch {
            kind,
            pipe,
            body,
            else_body,
        })
    }

    fn plain_var(&self, offset: usize) -> Option<String> {
        match self.items.get(self.i + offset).map(|it| &it.tok) {
            Some(Tok::Var(name, chain)) if chain.is_empty() => Some(name.clone()),
            _ => None,
        }
    }

    fn is_decl_op(&self, offset: usize) -> Option<bool> {
        match self.items.get(self.i + offset).map(|it| &it.tok) {
            Some(Tok::Declare) => Some(false),
            Some(Tok::Assign) => Some(true),
            _ => None,
        }
    }

    fn parse_pipeline(
        &mut self,
        ctx: &str,
        in_parens: bool,
        is_range: bool,
    ) -> Result<Pipe, FormatError> {
        let start = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        if let Some(first) = self.plain_var(0) {
            if let Some(a) = self.is_decl_op(1) {
                decl.push(first);
                assign = a;
                self.i += 2;
            } else if matches!(
                self.items.get(self.i + 1).map(|it| &it.tok),
                Some(Tok::Comma)
            ) {
                let second = self.plain_var(2);
                match (is_range, second, self.is_decl_op(3)) {
                    (true, Some(second), Some(a)) => {
                        decl.push(first);
                        decl.push(second);
                        assign = a;
                        self.i += 4;
                    }
                    _ => return Err(self.err(format!("too many declarations in {}", ctx))),
                }
            }
        }
        if assign {
            if let Some(unknown) = decl.iter().find(|d| !self.vars.contains(d)) {
                return Err(self.err(format!("undefined variable {:?}", unknown)));
            }
        }
        let mut cmds: Vec<Vec<Arg>> = Vec::new();
        let end;
        loop {
            match self.peek() {
                None if in_parens => return Err(self.err("unclosed left paren")),
                None => return Err(self.err("unclosed action")),
                Some(Tok::Close) if in_parens => return Err(self.err("unclosed left paren")),
                Some(Tok::RParen) if !in_parens => return Err(self.err("unexpected right paren")),
                Some(Tok::Close) | Some(Tok::RParen) => {
                    end = self.pos();
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            cmds.push(self.parse_command()?);
            if let Some(Tok::Pipe) = self.peek() {
                self.i += 1;
                if matches!(self.peek(), Some(Tok::Close) | Some(Tok::RParen) | None) {
                    return Err(self.err("missing command after pipe"));
                }
            }
        }
        if cmds.is_empty() {
            let what = if decl.is_empty() { ctx } else { "declaration" };
            return Err(parse_err(
                self.src,
                start,
                format!("missing value for {}", what),
            ));
        }
        for (stage, cmd) in cmds.iter().enumerate().skip(1) {
            if matches!(cmd[0], Arg::Dot | Arg::Lit(_) | Arg::Nil) {
                return Err(parse_err(
                    self.src,
                    start,
                    format!("non executable command in pipeline stage {}", stage + 1),
                ));
            }
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        let text = self.src[start..end.max(start)]
            .trim_end()
            .trim_end_matches('-')
            .trim_end()
            .to_string();
        Ok(Pipe {
            decl,
            assign,
            cmds,
            pos: start,
            text,
        })
    }

    fn parse_command(&mut self) -> Result<Vec<Arg>, FormatError> {
        let mut args = Vec::new();
        while !matches!(
            self.peek(),
            None | Some(Tok::Close) | Some(Tok::RParen) | Some(Tok::Pipe)
        ) {
            args.push(self.parse_operand()?);
        }
        if args.is_empty() {
            return Err(self.err("empty command"));
        }
        Ok(args)
    }

    fn parse_operand(&mut self) -> Result<Arg, FormatError> {
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| self.err("unexpected EOF"))?;
        let arg = match tok {
            Tok::Field(chain) => Arg::Field(chain),
            Tok::Dot => Arg::Dot,
            Tok::Var(name, chain) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(format!("undefined variable {:?}", name)));
                }
                Arg::Var(name, chain)
            }
            Tok::Ident(name) if KEYWORDS.contains(&name.as_str()) => {
                return Err(self.err(format!("unexpected <{}> in operand", name)))
            }
            Tok::Ident(name) if FUNCS.contains(&name.as_str()) => Arg::Func(name),
            Tok::Ident(name) => return Err(self.err(format!("function {:?} not defined", name))),
            Tok::Str(s) => Arg::Lit(Value::String(s)),
            Tok::Num(n) => Arg::Lit(Value::Number(n)),
            Tok::Bool(b) => Arg::Lit(Value::Bool(b)),
            Tok::Nil => Arg::Nil,
            Tok::LParen => {
                self.i += 1;
                let pipe = self.parse_pipeline("parenthesized pipeline", true, false)?;
                let mut chain = Vec::new();
                if let Some(Item {
                    tok: Tok::Field(more),
                    adjacent: true,
                    ..
                }) = self.items.get(self.i)
                {
                    chain = more.clone();
                    self.i += 1;
                }
                return Ok(Arg::Sub(Box::new(pipe), chain));
            }
            t => return Err(self.err(format!("unexpected {} in operand", describe(&t)))),
        };
        self.i += 1;
        if let Some(Item {
            tok: Tok::Field(_),
            adjacent: true,
            ..
        }) = self.items.get(self.i)
        {
            return Err(self.err("unexpected . after term"));
        }
        Ok(arg)
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Text(_) => "text".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Field(c) => format!("<.{}>", c.join(".")),
        Tok::Dot => "<.>".into(),
        Tok::Var(n, _) => format!("<{}>", n),
        Tok::Ident(n) => format!("<{}>", n),
        Tok::Str(s) => format!("{:?}", s),
        Tok::Num(n) => n.to_string(),
        Tok::Bool(b) => b.to_string(),
        Tok::Nil => "nil".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::template::testutil::{parse_err, r, ri};
    use serde_json::json;

    #[test]
    fn else_if_chain() {
        let t =
            "{{if eq .N 1}}one{{else if eq .N 7}}seven{{else if eq .N 9}}nine{{else}}other{{end}}";
        assert_eq!(ri(t), "seven");
        assert_eq!(r(t, &json!({"N": 9})), "nine");
        assert_eq!(r(t, &json!({"N": 3})), "other");
    }

    #[test]
    fn parse_errors() {
        let e = parse_err("{{.Name");
        assert_eq!(e, "template parsing error: template: :1: unclosed action");
        let e = parse_err("line\n{{nosuchfunc .Name}}");
        assert_eq!(
            e,
            "template parsing error: template: :2: function \"nosuchfunc\" not defined"
        );
        assert!(parse_err("{{if .A}}x").contains("unexpected EOF"));
        assert!(parse_err("x{{end}}").contains("unexpected {{end}}"));
        assert!(parse_err("{{}}").contains("missing value for command"));
        assert!(parse_err(r#"{{"abc}}"#).contains("unterminated quoted string"));
        assert!(parse_err("{{(.A}}").contains("unclosed left paren"));
        assert!(parse_err("{{.A | \"x\"}}").contains("non executable command in pipeline stage 2"));
        assert!(parse_err("{{define \"x\"}}{{end}}").contains("not supported"));
        assert!(parse_err("{{/* x }}").contains("unclosed comment"));
    }
}
