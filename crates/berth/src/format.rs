//! Docker-compatible output formatting: `--format` / `inspect -f` templates
//! (a subset of Go's text/template, plus Docker's extra functions) evaluated
//! over `serde_json::Value`, and Docker-style aligned tables.
//!
//! Go tells a missing map key (printed `<no value>`) apart from an explicit
//! nil (printed `<nil>`); to keep that distinction every evaluation yields an
//! `Option<Value>` where `None` is "missing".

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt;

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

/// Functions known at parse time; Go rejects anything else before executing.
const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "printf", "print",
    "println", "json", "join", "split", "title", "lower", "upper", "pad", "truncate",
];

/// Docker swaps these for identity functions when rendering a table header,
/// so `{{upper .Names}}` still shows the header text unchanged.
const HEADER_IDENTITY_FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "truncate",
];

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "break", "continue", "define", "template", "block",
];

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
    (line, col)
}

fn parse_err(src: &str, pos: usize, msg: impl fmt::Display) -> FormatError {
    FormatError(format!("template: :{}: {}", line_col(src, pos).0, msg))
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
    Field(Vec<String>),
    Dot,
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug)]
struct Item {
    tok: Tok,
    pos: usize,
    /// No whitespace precedes the token; `(x).Field` chains only when adjacent.
    adjacent: bool,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn char_at(src: &str, p: usize) -> Option<char> {
    src.get(p..).and_then(|s| s.chars().next())
}

fn read_ident(src: &str, p: &mut usize) -> String {
    let start = *p;
    while let Some(c) = char_at(src, *p) {
        if !is_ident_char(c) {
            break;
        }
        *p += c.len_utf8();
    }
    src[start..*p].to_string()
}

/// Reads `.A.B.C` continuations starting at `p` (which points at a '.').
fn read_chain(src: &str, p: &mut usize) -> Vec<String> {
    let mut chain = Vec::new();
    while char_at(src, *p) == Some('.') && char_at(src, *p + 1).is_some_and(is_ident_char) {
        *p += 1;
        chain.push(read_ident(src, p));
    }
    chain
}

fn lex(src: &str) -> Result<Vec<Item>, FormatError> {
    let bytes = src.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    loop {
        let open = src[pos..].find("{{").map(|i| i + pos);
        let text_end = open.unwrap_or(src.len());
        let mut text = &src[pos..text_end];
        if trim_next {
            text = text.trim_start_matches(is_space);
            trim_next = false;
        }
        let Some(open) = open else {
            if !text.is_empty() {
                items.push(Item {
                    tok: Tok::Text(text.to_string()),
                    pos,
                    adjacent: true,
                });
            }
            break;
        };
        let mut inner = open + 2;
        // Go only treats "{{-" as a trim marker when whitespace follows, so "{{-3}}" stays a number.
        if bytes.get(open + 2) == Some(&b'-')
            && bytes.get(open + 3).is_some_and(|b| is_space(*b as char))
        {
            text = text.trim_end_matches(is_space);
            inner = open + 4;
        }
        if !text.is_empty() {
            items.push(Item {
                tok: Tok::Text(text.to_string()),
                pos,
                adjacent: true,
            });
        }
        if src[inner..].starts_with("/*") {
            let Some(close) = src[inner + 2..].find("*/") else {
                return Err(parse_err(src, open, "unclosed comment"));
            };
            let after = inner + 2 + close + 2;
            if src[after..].starts_with("}}") {
                pos = after + 2;
            } else if src[after..].len() > 1
                && is_space(bytes[after] as char)
                && src[after + 1..].starts_with("-}}")
            {
                pos = after + 4;
                trim_next = true;
            } else {
                return Err(parse_err(
                    src,
                    open,
                    "comment ends before closing delimiter",
                ));
            }
            continue;
        }
        items.push(Item {
            tok: Tok::Open,
            pos: open,
            adjacent: true,
        });
        let mut p = inner;
        loop {
            let ws_start = p;
            while p < bytes.len() && is_space(bytes[p] as char) {
                p += 1;
            }
            let adjacent = p == ws_start;
            if p >= bytes.len() {
                return Err(parse_err(src, open, "unclosed action"));
            }
            let rest = &src[p..];
            if rest.starts_with("}}") {
                items.push(Item {
                    tok: Tok::Close,
                    pos: p,
                    adjacent,
                });
                p += 2;
                break;
            }
            if !adjacent && rest.starts_with("-}}") {
                items.push(Item {
                    tok: Tok::Close,
                    pos: p,
                    adjacent,
                });
                p += 3;
                trim_next = true;
                break;
            }
            let start = p;
            let c = char_at(src, p).unwrap_or('\0');
            let next = char_at(src, p + c.len_utf8());
            let tok = match c {
                '|' => {
                    p += 1;
                    Tok::Pipe
                }
                '(' => {
                    p += 1;
                    Tok::LParen
                }
                ')' => {
                    p += 1;
                    Tok::RParen
                }
                ',' => {
                    p += 1;
                    Tok::Comma
                }
                '=' => {
                    p += 1;
                    Tok::Assign
                }
                ':' if next == Some('=') => {
                    p += 2;
                    Tok::Declare
                }
                '"' => Tok::Str(lex_quoted(src, &mut p)?),
                '`' => {
                    let Some(len) = src[p + 1..].find('`') else {
                        return Err(parse_err(src, start, "unterminated raw quoted string"));
                    };
                    let s = src[p + 1..p + 1 + len].to_string();
                    p += len + 2;
                    Tok::Str(s)
                }
                '\'' => Tok::Num(Number::from(lex_char(src, &mut p)? as u32)),
                '$' => {
                    p += 1;
                    let name = format!("${}", read_ident(src, &mut p));
                    Tok::Var(name, read_chain(src, &mut p))
                }
                '.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                    Tok::Num(lex_number(src, &mut p)?)
                }
                '.' => {
                    let chain = read_chain(src, &mut p);
                    if chain.is_empty() {
                        p += 1;
                        Tok::Dot
                    } else {
                        Tok::Field(chain)
                    }
                }
                '0'..='9' => Tok::Num(lex_number(src, &mut p)?),
                '+' | '-' if next.is_some_and(|n| n.is_ascii_digit() || n == '.') => {
                    Tok::Num(lex_number(src, &mut p)?)
                }
                c if is_ident_char(c) => match read_ident(src, &mut p).as_str() {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    word => Tok::Ident(word.to_string()),
                },
                c => {
                    return Err(parse_err(
                        src,
                        start,
                        format!("unrecognized character in action: {:?}", c),
                    ))
                }
            };
            items.push(Item {
                tok,
                pos: start,
                adjacent,
            });
        }
        pos = p;
    }
    Ok(items)
}

fn lex_escape(src: &str, p: &mut usize, quote: char) -> Result<char, FormatError> {
    let start = *p;
    // `p` points just past the backslash.
    let c = char_at(src, *p).ok_or_else(|| parse_err(src, start, "unterminated quoted string"))?;
    *p += c.len_utf8();
    let hex = |p: &mut usize, n: usize| -> Result<char, FormatError> {
        let digits = src
            .get(*p..*p + n)
            .ok_or_else(|| parse_err(src, start, "invalid syntax"))?;
        *p += n;
        u32::from_str_radix(digits, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| parse_err(src, start, "invalid syntax"))
    };
    Ok(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        'x' => hex(p, 2)?,
        'u' => hex(p, 4)?,
        'U' => hex(p, 8)?,
        '0'..='7' => {
            let digits = src
                .get(*p - 1..*p + 2)
                .ok_or_else(|| parse_err(src, start, "invalid syntax"))?;
            *p += 2;
            u32::from_str_radix(digits, 8)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| parse_err(src, start, "invalid syntax"))?
        }
        c if c == quote => c,
        _ => return Err(parse_err(src, start, "invalid syntax")),
    })
}

fn lex_quoted(src: &str, p: &mut usize) -> Result<String, FormatError> {
    let start = *p;
    *p += 1;
    let mut out = String::new();
    loop {
        match char_at(src, *p) {
            None | Some('\n') => return Err(parse_err(src, start, "unterminated quoted string")),
            Some('"') => {
                *p += 1;
                return Ok(out);
            }
            Some('\\') => {
                *p += 1;
                out.push(lex_escape(src, p, '"')?);
            }
            Some(c) => {
                *p += c.len_utf8();
                out.push(c);
            }
        }
    }
}

fn lex_char(src: &str, p: &mut usize) -> Result<char, FormatError> {
    let start = *p;
    *p += 1;
    let c = match char_at(src, *p) {
        Some('\\') => {
            *p += 1;
            lex_escape(src, p, '\'')?
        }
        Some(c) if c != '\'' && c != '\n' => {
            *p += c.len_utf8();
            c
        }
        _ => return Err(parse_err(src, start, "malformed character constant")),
    };
    if char_at(src, *p) != Some('\'') {
        return Err(parse_err(src, start, "unterminated character constant"));
    }
    *p += 1;
    Ok(c)
}

fn lex_number(src: &str, p: &mut usize) -> Result<Number, FormatError> {
    let start = *p;
    let mut prev = '\0';
    while let Some(c) = char_at(src, *p) {
        let sign_ok =
            *p == start || (matches!(prev, 'e' | 'E') && !src[start..*p].contains(['x', 'X']));
        if !(is_ident_char(c) || c == '.' || (matches!(c, '+' | '-') && sign_ok)) {
            break;
        }
        prev = c;
        *p += c.len_utf8();
    }
    let text = &src[start..*p];
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let radix = |digits: &str, r: u32| i64::from_str_radix(digits, r).ok();
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        radix(h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        radix(o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        radix(b, 2)
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        radix(body, 8)
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok(Number::from(if neg { -i } else { i }));
    }
    if !neg {
        if let Ok(u) = body.parse::<u64>() {
            return Ok(Number::from(u));
        }
    }
    clean
        .parse::<f64>()
        .ok()
        .filter(|f| {
            f.is_finite()
                && body
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        })
        .and_then(Number::from_f64)
        .ok_or_else(|| parse_err(src, start, format!("bad number syntax: {:?}", text)))
}

// ---------------------------------------------------------------- parser

#[derive(Debug)]
enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    Nil,
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
    pos: usize,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    If,
    With,
    Range,
}

#[derive(Debug)]
struct Branch {
    kind: Kind,
    pipe: Pipe,
    body: Vec<Node>,
    else_body: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    Branch(Box<Branch>),
    Break,
    Continue,
}

enum Stop {
    Eof,
    End,
    Else,
}

struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.items.get(self.i).map(|it| &it.tok)
    }

    fn pos(&self) -> usize {
        self.items.get(self.i).map_or(self.src.len(), |it| it.pos)
    }

    fn err(&self, msg: impl fmt::Display) -> FormatError {
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

    fn parse_nodes(&mut self) -> Result<(Vec<Node>, Stop), FormatError> {
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

// ---------------------------------------------------------------- template

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

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    src: &'a str,
    vars: Vec<(String, Val)>,
    /// Rendering a table header: Docker's header funcs are identities and missing keys print empty.
    header: bool,
}

impl Exec<'_> {
    fn fail(&self, pipe: &Pipe, msg: String) -> FormatError {
        let (line, col) = line_col(self.src, pipe.pos);
        FormatError(format!(
            "template: :{}:{}: executing \"\" at <{}>: {}",
            line, col, pipe.text, msg
        ))
    }

    fn walk(&mut self, nodes: &[Node], dot: &Val, out: &mut String) -> Result<Flow, FormatError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.eval_pipe(pipe, dot).map_err(|m| self.fail(pipe, m))?;
                    if pipe.decl.is_empty() {
                        match v {
                            Some(v) => out.push_str(&format_v(&v)),
                            None if self.header => {}
                            None => out.push_str("<no value>"),
                        }
                    }
                }
                Node::Branch(b) => {
                    let mark = self.vars.len();
                    let flow = if b.kind == Kind::Range {
                        self.range(b, dot, out)?
                    } else {
                        let v = self
                            .eval_pipe(&b.pipe, dot)
                            .map_err(|m| self.fail(&b.pipe, m))?;
                        match (truthy(&v), b.kind) {
                            (true, Kind::With) => self.walk(&b.body, &v, out)?,
                            (true, _) => self.walk(&b.body, dot, out)?,
                            (false, _) => self.walk(&b.else_body, dot, out)?,
                        }
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, b: &Branch, dot: &Val, out: &mut String) -> Result<Flow, FormatError> {
        let v = self
            .eval_cmds(&b.pipe, dot)
            .map_err(|m| self.fail(&b.pipe, m))?;
        let elems: Vec<(Value, Value)> = match v {
            // JSON loses Go's typed-nil slices and maps; ranging over them yields nothing.
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e))
                .collect(),
            Some(Value::Object(m)) => {
                let mut kv: Vec<(Value, Value)> =
                    m.into_iter().map(|(k, v)| (Value::String(k), v)).collect();
                kv.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                kv
            }
            Some(Value::Number(n)) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            Some(other) => {
                return Err(self.fail(
                    &b.pipe,
                    format!("range can't iterate over {}", format_v(&other)),
                ))
            }
        };
        if elems.is_empty() {
            return self.walk(&b.else_body, dot, out);
        }
        for (key, elem) in elems {
            let mark = self.vars.len();
            let bound: Vec<Val> = match b.pipe.decl.len() {
                1 => vec![Some(elem.clone())],
                2 => vec![Some(key), Some(elem.clone())],
                _ => Vec::new(),
            };
            for (name, val) in b.pipe.decl.iter().zip(bound) {
                self.bind(name, val, b.pipe.assign);
            }
            let flow = self.walk(&b.body, &Some(elem), out)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn bind(&mut self, name: &str, val: Val, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = val;
                return;
            }
        }
        self.vars.push((name.to_string(), val));
    }

    fn eval_pipe(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, String> {
        let v = self.eval_cmds(pipe, dot)?;
        for name in &pipe.decl {
            self.bind(name, v.clone(), pipe.assign);
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, pipe: &Pipe, dot: &Val) -> Result<Val, String> {
        let mut last: Option<Val> = None;
        for cmd in &pipe.cmds {
            last = Some(self.eval_cmd(cmd, dot, last)?);
        }
        Ok(last.flatten())
    }

    fn eval_cmd(&mut self, cmd: &[Arg], dot: &Val, piped: Option<Val>) -> Result<Val, String> {
        match &cmd[0] {
            Arg::Func(name) => self.call(name, &cmd[1..], dot, piped),
            Arg::Nil => Err("nil is not a command".into()),
            first => {
                if cmd.len() > 1 || piped.is_some() {
                    return Err(format!(
                        "can't give argument to non-function {}",
                        arg_text(first)
                    ));
                }
                self.eval_arg(first, dot)
            }
        }
    }

    fn eval_arg(&mut self, arg: &Arg, dot: &Val) -> Result<Val, String> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Field(chain) => self.chain(dot.as_ref(), chain),
            Arg::Var(name, chain) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.clone());
                self.chain(v.as_ref(), chain)
            }
            Arg::Func(name) => self.call(name, &[], dot, None),
            Arg::Lit(v) => Ok(Some(v.clone())),
            Arg::Nil => Ok(Some(Value::Null)),
            Arg::Sub(pipe, chain) => {
                let v = self.eval_pipe(pipe, dot)?;
                self.chain(v.as_ref(), chain)
            }
        }
    }

    fn chain(&self, mut cur: Option<&Value>, chain: &[String]) -> Result<Val, String> {
        for name in chain {
            cur = match cur {
                // Go keeps an invalid value invalid down the chain, so `.Missing.X` is `<no value>`.
                None => None,
                Some(Value::Object(m)) => m.get(name),
                Some(_) if self.header => None,
                Some(Value::Null) => {
                    return Err(format!("nil pointer evaluating interface {{}}.{}", name))
                }
                Some(v) => {
                    return Err(format!(
                        "can't evaluate field {} in type {}",
                        name,
                        type_name(v)
                    ))
                }
            };
        }
        Ok(cur.cloned())
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Val,
        piped: Option<Val>,
    ) -> Result<Val, String> {
        if name == "and" || name == "or" {
            if args.is_empty() && piped.is_none() {
                return Err(format!(
                    "wrong number of args for {}: want at least 1 got 0",
                    name
                ));
            }
            // Short-circuits like Go 1.18+: the deciding operand itself is the result.
            let stop_on = name == "or";
            let mut last = None;
            for a in args {
                let v = self.eval_arg(a, dot)?;
                if truthy(&v) == stop_on {
                    return Ok(v);
                }
                last = Some(v);
            }
            return Ok(piped.or(last).flatten());
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(a, dot)?.unwrap_or(Value::Null));
        }
        if let Some(p) = piped {
            vals.push(p.unwrap_or(Value::Null));
        }
        if self.header && HEADER_IDENTITY_FUNCS.contains(&name) {
            let first = vals.iter().find(|v| v.is_string()).or(vals.first());
            return Ok(Some(first.cloned().unwrap_or_default()));
        }
        call_func(name, &vals).map(Some).map_err(|m| {
            if m.starts_with("wrong number") {
                m
            } else {
                format!("error calling {}: {}", name, m)
            }
        })
    }
}

fn arg_text(arg: &Arg) -> String {
    match arg {
        Arg::Dot => ".".into(),
        Arg::Field(c) => format!(".{}", c.join(".")),
        Arg::Var(n, c) if c.is_empty() => n.clone(),
        Arg::Var(n, c) => format!("{}.{}", n, c.join(".")),
        Arg::Func(n) => n.clone(),
        Arg::Lit(v) => go_json(v),
        Arg::Nil => "nil".into(),
        Arg::Sub(p, _) => format!("({})", p.text),
    }
}

// ---------------------------------------------------------------- functions

/// Go truthiness: false, 0, "", nil and empty collections are false.
fn truthy(v: &Val) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {}: want {} got {}",
            name,
            n,
            args.len()
        ))
    }
}

/// Scalars are accepted where Go wants a string, since JSON lost Go's exact types.
fn str_arg(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(format_v(v)),
        Value::Null => Err("invalid value; expected string".into()),
        _ => Err(format!(
            "wrong type for value; expected string; got {}",
            type_name(v)
        )),
    }
}

fn int_of(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i128)
        })
}

fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => int_of(n).and_then(|i| i64::try_from(i).ok()),
        _ => None,
    }
    .ok_or_else(|| format!("wrong type for value; expected int; got {}", type_name(v)))
}

fn num_cmp(a: &Number, b: &Number) -> Ordering {
    match (a.is_f64() || b.is_f64(), int_of(a), int_of(b)) {
        (false, Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

fn values_eq(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Ordering::Equal,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => a == b,
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn values_cmp(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(num_cmp(x, y)),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's strings.Title: upper-cases the first letter after any separator.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let sep = if prev.is_ascii() {
                !(prev.is_ascii_alphanumeric() || prev == '_')
            } else {
                prev.is_whitespace()
            };
            prev = c;
            if sep {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn call_func(name: &str, args: &[Value]) -> Result<Value, String> {
    Ok(match name {
        "not" => {
            want(name, args, 1)?;
            Value::Bool(!truthy(&Some(args[0].clone())))
        }
        "len" => {
            want(name, args, 1)?;
            Value::from(match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => 0,
                v => return Err(format!("len of type {}", type_name(v))),
            })
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut cur = args[0].clone();
            for idx in &args[1..] {
                cur = match (&cur, idx) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => {
                        let i = int_of(n).ok_or("cannot index slice/array with type float64")?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| a.get(i))
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {}", i))?
                    }
                    (Value::String(s), Value::Number(n)) => {
                        let i = int_of(n).ok_or("cannot index string with type float64")?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| s.as_bytes().get(i))
                            .map(|b| Value::from(*b))
                            .ok_or_else(|| format!("index out of range: {}", i))?
                    }
                    (Value::Null, _) => return Err("index of untyped nil".into()),
                    (Value::Object(_), k) => {
                        return Err(format!("value has type {}; should be string", type_name(k)))
                    }
                    (Value::Array(_), k) => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            type_name(k)
                        ))
                    }
                    (v, _) => return Err(format!("can't index item of type {}", type_name(v))),
                };
            }
            cur
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= values_eq(&args[0], b)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            want(name, args, 2)?;
            Value::Bool(!values_eq(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, args, 2)?;
            let ord = values_cmp(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            })
        }
        "printf" => {
            let Some(Value::String(f)) = args.first() else {
                return Err(match args.first() {
                    None => "wrong number of args for printf: want at least 1 got 0".into(),
                    Some(v) => format!(
                        "wrong type for value; expected string; got {}",
                        type_name(v)
                    ),
                });
            };
            Value::String(sprintf(f, &args[1..]))
        }
        "print" => Value::String(sprint(args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(format_v).collect();
            Value::String(parts.join(" ") + "\n")
        }
        "json" => {
            want(name, args, 1)?;
            Value::String(go_json(&args[0]))
        }
        "join" => {
            want(name, args, 2)?;
            let sep = str_arg(&args[1])?;
            let parts = match &args[0] {
                Value::Array(a) => a.iter().map(str_arg).collect::<Result<Vec<_>, _>>()?,
                Value::Null => Vec::new(),
                v => {
                    return Err(format!(
                        "wrong type for value; expected []string; got {}",
                        type_name(v)
                    ))
                }
            };
            Value::String(parts.join(&sep))
        }
        "split" => {
            want(name, args, 2)?;
            let (s, sep) = (str_arg(&args[0])?, str_arg(&args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Value::Array(parts)
        }
        "title" | "lower" | "upper" => {
            want(name, args, 1)?;
            let s = str_arg(&args[0])?;
            Value::String(match name {
                "title" => title(&s),
                "lower" => s.to_lowercase(),
                _ => s.to_uppercase(),
            })
        }
        "pad" => {
            want(name, args, 3)?;
            let s = str_arg(&args[0])?;
            let (l, r) = (
                int_arg(&args[1])?.max(0) as usize,
                int_arg(&args[2])?.max(0) as usize,
            );
            // Docker leaves empty values unpadded.
            Value::String(if s.is_empty() {
                s
            } else {
                format!("{}{}{}", " ".repeat(l), s, " ".repeat(r))
            })
        }
        "truncate" => {
            want(name, args, 2)?;
            let s = str_arg(&args[0])?;
            let n = int_arg(&args[1])?.max(0) as usize;
            Value::String(s.chars().take(n).collect())
        }
        _ => return Err(format!("function {:?} not defined", name)),
    })
}

// ---------------------------------------------------------------- value printing

/// Go's `%v` rendering of a value.
fn format_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match int_of(n) {
            Some(i) if !n.is_f64() => i.to_string(),
            _ => {
                let f = n.as_f64().unwrap_or(0.0);
                let body = fmt_g(f.abs(), None, false);
                if f.is_sign_negative() {
                    format!("-{}", body)
                } else {
                    body
                }
            }
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(format_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            sorted(m)
                .iter()
                .map(|(k, v)| format!("{}:{}", k, format_v(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go prints and encodes maps in key order, independent of serde_json's `preserve_order`.
fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut kv: Vec<_> = m.iter().collect();
    kv.sort_by(|a, b| a.0.cmp(b.0));
    kv
}

/// Go's fmt.Sprint: a space goes between operands only when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&format_v(a));
    }
    out
}

/// Decimal digits of `|f|` without trailing zeros, and the decimal point position
/// (Go's strconv `decimal` nd/dp), either shortest round-trip or rounded to `sig` digits.
fn float_digits(f: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

fn fmt_e(digits: &[u8], dp: i32, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push(digits.first().map_or('0', |d| *d as char));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digits.get(i).map_or('0', |d| *d as char));
        }
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.abs()));
    s
}

fn fmt_f(digits: &[u8], dp: i32, prec: usize) -> String {
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |d| *d as char)
    };
    let mut s = String::new();
    if dp > 0 {
        (0..dp).for_each(|i| s.push(digit(i)));
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        (0..prec as i32).for_each(|i| s.push(digit(dp + i)));
    }
    s
}

/// strconv.FormatFloat(|f|, 'g', prec) — `None` is Go's shortest (-1) precision.
fn fmt_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    let (digits, dp) = float_digits(f, prec.map(|p| p.max(1)));
    let nd = digits.len() as i32;
    let mut p = prec.map_or(nd, |p| p.max(1) as i32);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        p = p.min(nd);
        return fmt_e(&digits, dp, (p - 1).max(0) as usize, upper);
    }
    if p > dp {
        p = nd;
    }
    fmt_f(&digits, dp, (p - dp).max(0) as usize)
}

/// Go's json.Marshal for a value (no HTML escaping, as Docker's `json` func sets).
fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if !n.is_f64() => out.push_str(&n.to_string()),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.is_sign_negative() && f != 0.0 {
                out.push('-');
            }
            let (digits, dp) = float_digits(f, None);
            let a = f.abs();
            if a != 0.0 && !(1e-6..1e21).contains(&a) {
                let e = fmt_e(&digits, dp, digits.len().saturating_sub(1), false);
                // Go trims "e-07" to "e-7" in JSON.
                out.push_str(&e.replace("e-0", "e-"));
            } else {
                out.push_str(&fmt_f(
                    &digits,
                    dp,
                    (digits.len() as i32 - dp).max(0) as usize,
                ));
            }
        }
        Value::String(s) => write_json_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in sorted(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_json(e, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------- printf

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, s: String) -> String {
        let len = s.chars().count();
        match self.width {
            Some(w) if w > len => {
                let fill = w - len;
                if self.minus {
                    s + &" ".repeat(fill)
                } else if self.zero {
                    "0".repeat(fill) + &s
                } else {
                    " ".repeat(fill) + &s
                }
            }
            _ => s,
        }
    }

    /// Pads a number, putting zero padding between the sign/prefix and the digits like Go.
    fn pad_num(&self, sign_prefix: &str, digits: &str) -> String {
        match self.width {
            Some(w) if self.zero && !self.minus => {
                let len = sign_prefix.chars().count() + digits.chars().count();
                format!(
                    "{}{}{}",
                    sign_prefix,
                    "0".repeat(w.saturating_sub(len)),
                    digits
                )
            }
            _ => self.pad(format!("{}{}", sign_prefix, digits)),
        }
    }

    fn sign(&self, negative: bool) -> &'static str {
        if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        }
    }
}

/// Go's fmt.Sprintf for the verbs templates actually use.
fn sprintf(format: &str, args: &[Value]) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut next_arg = 0;
    let mut i = 0;
    let star = |next_arg: &mut usize| -> Option<i64> {
        let v = args.get(*next_arg).and_then(|v| int_arg(v).ok());
        *next_arg += 1;
        v
    };
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec::default();
        while let Some(c) = chars.get(i) {
            match c {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if chars.get(i) == Some(&'*') {
            i += 1;
            match star(&mut next_arg) {
                Some(w) => {
                    spec.minus |= w < 0;
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            spec.width = read_num(&chars, &mut i);
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            if chars.get(i) == Some(&'*') {
                i += 1;
                match star(&mut next_arg) {
                    Some(p) if p >= 0 => spec.prec = Some(p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
            } else {
                spec.prec = Some(read_num(&chars, &mut i).unwrap_or(0));
            }
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
        } else if let Some(arg) = args.get(next_arg) {
            next_arg += 1;
            out.push_str(&fmt_arg(&spec, verb, arg));
        } else {
            out.push_str(&format!("%!{}(MISSING)", verb));
        }
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| match a {
                Value::Null => "<nil>".to_string(),
                a => format!("{}={}", type_name(a), format_v(a)),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn read_num(chars: &[char], i: &mut usize) -> Option<usize> {
    let start = *i;
    while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
        *i += 1;
    }
    chars[start..*i].iter().collect::<String>().parse().ok()
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Null => format!("%!{}(<nil>)", verb),
        v => format!("%!{}({}={})", verb, type_name(v), format_v(v)),
    }
}

fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if ascii_only && !c.is_ascii() && (c as u32) < 0x10000 => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if ascii_only && !c.is_ascii() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fmt_arg(spec: &Spec, verb: char, v: &Value) -> String {
    match (verb, v) {
        ('T', v) => spec.pad(type_name(v).to_string()),
        // Go applies the verb element-wise inside collections.
        (_, Value::Array(a)) => {
            format!(
                "[{}]",
                a.iter()
                    .map(|e| fmt_arg(spec, verb, e))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        (_, Value::Object(m)) => format!(
            "map[{}]",
            sorted(m)
                .iter()
                .map(|(k, e)| format!(
                    "{}:{}",
                    fmt_arg(spec, verb, &Value::String((*k).clone())),
                    fmt_arg(spec, verb, e)
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ('v', Value::Null) => spec.pad("<nil>".into()),
        ('v' | 't', Value::Bool(b)) => spec.pad(b.to_string()),
        ('v' | 's', Value::String(s)) => spec.pad(
            spec.prec
                .map_or_else(|| s.clone(), |p| s.chars().take(p).collect()),
        ),
        ('q', Value::String(s)) => {
            let s: String = spec
                .prec
                .map_or_else(|| s.clone(), |p| s.chars().take(p).collect());
            if spec.sharp
                && !s.contains(['`', '\n', '\r', '\t'])
                && !s.chars().any(char::is_control)
            {
                spec.pad(format!("`{}`", s))
            } else {
                spec.pad(quote(&s, spec.plus))
            }
        }
        ('x' | 'X', Value::String(s)) => {
            let hex: String = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{:02x}", b)
                    } else {
                        format!("{:02X}", b)
                    }
                })
                .collect();
            spec.pad(hex)
        }
        ('v' | 'd' | 'b' | 'o' | 'x' | 'X' | 'c' | 'q' | 'U', Value::Number(n))
            if !n.is_f64() || verb != 'v' =>
        {
            // Integral floats are accepted by %d and friends since JSON may have widened ints.
            match int_of(n) {
                Some(i) => fmt_int(spec, verb, i),
                None if verb == 'v' => fmt_float(spec, 'g', n.as_f64().unwrap_or(0.0)),
                None => bad_verb(verb, v),
            }
        }
        ('v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Number(n)) => fmt_float(
            spec,
            if verb == 'v' { 'g' } else { verb },
            n.as_f64().unwrap_or(0.0),
        ),
        (verb, v) => bad_verb(verb, v),
    }
}

fn fmt_int(spec: &Spec, verb: char, i: i128) -> String {
    let mag = i.unsigned_abs();
    let mut digits = match verb {
        'b' => format!("{:b}", mag),
        'o' => format!("{:o}", mag),
        'x' => format!("{:x}", mag),
        'X' => format!("{:X}", mag),
        'U' => return spec.pad(format!("U+{:04X}", mag)),
        'c' | 'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            return spec.pad(if verb == 'c' {
                c.to_string()
            } else {
                format!("'{}'", c)
            });
        }
        _ => mag.to_string(),
    };
    if let Some(p) = spec.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match (spec.sharp, verb) {
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        (true, 'b') => "0b",
        (true, 'o') if !digits.starts_with('0') => "0",
        _ => "",
    };
    let head = format!("{}{}", spec.sign(i < 0), prefix);
    // Go ignores the 0 flag when a precision is given for integers.
    let spec = Spec {
        zero: spec.zero && spec.prec.is_none(),
        ..*spec
    };
    spec.pad_num(&head, &digits)
}

fn fmt_float(spec: &Spec, verb: char, f: f64) -> String {
    let a = f.abs();
    let upper = verb.is_ascii_uppercase();
    let body = match verb {
        'e' | 'E' => {
            let p = spec.prec.unwrap_or(6);
            let (digits, dp) = float_digits(a, Some(p + 1));
            fmt_e(&digits, dp, p, upper)
        }
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        _ => fmt_g(a, spec.prec, upper),
    };
    spec.pad_num(spec.sign(f.is_sign_negative()), &body)
}

// ---------------------------------------------------------------- tables

const TAB_MINWIDTH: usize = 10;
const TAB_PADDING: usize = 3;

/// Writes rows as aligned columns like Go's text/tabwriter with Docker's settings (minwidth 10, tabwidth 1, padding 3, padchar ' '); the last cell of a line is not padded.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    tab_format(&lines, &mut widths, 0, lines.len(), &mut out);
    out
}

/// Go's tabwriter.format: a column block is a run of consecutive lines that all have
/// a tab-terminated cell in this column; each block gets its own width.
fn tab_format(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut start = line0;
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        tab_write_lines(lines, widths, start, this, out);
        start = this;
        let mut width = TAB_MINWIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + TAB_PADDING);
            this += 1;
        }
        widths.push(width);
        tab_format(lines, widths, start, this, out);
        widths.pop();
        start = this;
    }
    tab_write_lines(lines, widths, start, line1, out);
}

fn tab_write_lines(
    lines: &[Vec<&str>],
    widths: &[usize],
    line0: usize,
    line1: usize,
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                let len = cell.chars().count();
                out.push_str(&" ".repeat(w.saturating_sub(len)));
            }
        }
        // The text after the final newline is a partial line: Go emits it without a newline.
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

// ---------------------------------------------------------------- list commands

/// How a list command should print, decided from its --format value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns with a header row; `template` is the part after "table ".
    Table {
        /// Per-row template, with `\t`/`\n` escapes already turned into real characters.
        template: String,
    },
    /// A template without the "table" prefix: one rendered line per item, no header.
    Raw(String),
    /// "json": one JSON object per line.
    Json,
}

/// Docker's preFormat: shells pass `\t` literally, so the two-character escapes become real tabs/newlines.
fn docker_unescape(s: &str) -> String {
    s.trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Parses a --format value ("table {{.ID}}\t{{.Names}}", "{{.ID}}", "json", "table"=default).
pub fn list_format(format: Option<&str>, default_table: &str) -> ListFormat {
    let table = |t: &str| ListFormat::Table {
        template: docker_unescape(t.strip_prefix("table").unwrap_or(t)),
    };
    match format {
        None | Some("") | Some("table") => table(default_table),
        Some(f) if f.trim() == "json" => ListFormat::Json,
        Some(f) if f.starts_with("table") => table(f),
        Some(f) => ListFormat::Raw(docker_unescape(f)),
    }
}

/// [`render_list`] printed to stdout, as every list command ends; a bad template exits 1.
pub fn print_list(fmt: &ListFormat, headers: &Value, items: &[Value]) -> crate::CmdResult {
    let text = render_list(fmt, headers, items).map_err(|e| crate::Exit {
        code: 1,
        message: e.to_string(),
    })?;
    print!("{text}");
    Ok(0)
}

/// Renders a list: a header row (from `headers`, a field-name → header-text object) plus rows through tabwrite for Table, one line per item otherwise.
pub fn render_list(
    fmt: &ListFormat,
    headers: &Value,
    items: &[Value],
) -> Result<String, FormatError> {
    let mut out = String::new();
    match fmt {
        ListFormat::Table { template } => {
            let tmpl = Template::parse(template)?;
            out.push_str(&tmpl.execute(headers, true)?);
            out.push('\n');
            for item in items {
                out.push_str(&tmpl.render(item)?);
                out.push('\n');
            }
            out = tabwrite(&out);
        }
        ListFormat::Raw(template) => {
            let tmpl = Template::parse(template)?;
            for item in items {
                out.push_str(&tmpl.render(item)?);
                out.push('\n');
            }
        }
        ListFormat::Json => {
            for item in items {
                out.push_str(&serde_json::to_string(item).map_err(|e| FormatError(e.to_string()))?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inspect() -> Value {
        json!({
            "Id": "0123456789abcdef0123456789abcdef",
            "Name": "/web",
            "State": {"Running": true, "Status": "running", "Pid": 42, "Health": null},
            "Config": {"Labels": {"a": "b"}, "Env": ["A=1", "B=2"]},
            "Mounts": [{"Source": "/src1", "Destination": "/d1"}, {"Source": "/src2", "Destination": "/d2"}],
            "M": {"z": 1, "a": 2, "m": 3},
            "Args": ["sh", "-c", "echo hi"],
            "A": "x",
            "N": 7,
            "F": 1.5,
            "Big": 1000000.0,
            "Zero": 0,
            "Empty": "",
            "List": [],
            "Nested": {"Obj": {"k": "v", "n": [1, 2]}},
        })
    }

    fn r(tmpl: &str, data: &Value) -> String {
        Template::parse(tmpl)
            .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
            .render(data)
            .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
    }

    fn ri(tmpl: &str) -> String {
        r(tmpl, &inspect())
    }

    fn render_err(tmpl: &str) -> String {
        Template::parse(tmpl)
            .expect("parses")
            .render(&inspect())
            .expect_err("should fail")
            .to_string()
    }

    fn parse_err(tmpl: &str) -> String {
        Template::parse(tmpl)
            .expect_err("should not parse")
            .to_string()
    }

    #[test]
    fn bool_field() {
        assert_eq!(ri("{{.State.Running}}"), "true");
    }

    #[test]
    fn string_field_and_text() {
        assert_eq!(ri("name={{.Name}}!"), "name=/web!");
        assert_eq!(ri("no actions"), "no actions");
        assert_eq!(ri(""), "");
    }

    #[test]
    fn json_func() {
        assert_eq!(ri("{{json .Config.Labels}}"), r#"{"a":"b"}"#);
        assert_eq!(ri("{{json .Nested}}"), r#"{"Obj":{"k":"v","n":[1,2]}}"#);
        assert_eq!(ri("{{json .Missing}}"), "null");
        assert_eq!(
            r("{{json .}}", &json!({"h": "<a&b>\n", "f": 1.5, "e": 1e21})),
            r#"{"e":1e+21,"f":1.5,"h":"<a&b>\n"}"#
        );
    }

    #[test]
    fn index_map_and_array() {
        let d = json!({"Config": {"Labels": {"com.x": "yes"}}, "A": [[1, 2], [3, 4]]});
        assert_eq!(r(r#"{{index .Config.Labels "com.x"}}"#, &d), "yes");
        assert_eq!(r("{{index .A 1 0}}", &d), "3");
        assert_eq!(r(r#"{{index .Config.Labels "nope"}}"#, &d), "<nil>");
        let e = Template::parse("{{index .A 5}}")
            .unwrap()
            .render(&d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("index out of range: 5"), "{e}");
    }

    #[test]
    fn range_array() {
        assert_eq!(ri("{{range .Mounts}}{{.Source}} {{end}}"), "/src1 /src2 ");
        assert_eq!(
            ri("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}};{{end}}"),
            "0:/d1;1:/d2;"
        );
        assert_eq!(
            ri("{{range $e := .Config.Env}}[{{$e}}]{{end}}"),
            "[A=1][B=2]"
        );
    }

    #[test]
    fn range_map_sorted() {
        assert_eq!(
            ri("{{range $k,$v := .M}}{{$k}}={{$v}};{{end}}"),
            "a=2;m=3;z=1;"
        );
        assert_eq!(ri("{{range .M}}{{.}}{{end}}"), "231");
    }

    #[test]
    fn range_else_and_nil() {
        assert_eq!(ri("{{range .List}}x{{else}}empty{{end}}"), "empty");
        assert_eq!(ri("{{range .State.Health}}x{{else}}none{{end}}"), "none");
        assert_eq!(ri("{{range .Missing}}x{{end}}"), "");
        assert_eq!(ri("{{range 3}}{{.}}{{end}}"), "012");
    }

    #[test]
    fn range_break_continue() {
        assert_eq!(
            ri("{{range .Args}}{{if eq . \"-c\"}}{{continue}}{{end}}{{.}},{{end}}"),
            "sh,echo hi,"
        );
        assert_eq!(
            ri("{{range .Args}}{{if eq . \"-c\"}}{{break}}{{end}}{{.}},{{end}}"),
            "sh,"
        );
        assert!(parse_err("{{break}}").contains("outside {{range}}"));
    }

    #[test]
    fn if_eq_else() {
        let t = r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#;
        assert_eq!(ri(t), "up");
        assert_eq!(r(t, &json!({"State": {"Status": "exited"}})), "down");
        assert_eq!(ri(r#"{{if eq .A "q" "r" "x"}}multi{{end}}"#), "multi");
    }

    #[test]
    fn else_if_chain() {
        let t =
            "{{if eq .N 1}}one{{else if eq .N 7}}seven{{else if eq .N 9}}nine{{else}}other{{end}}";
        assert_eq!(ri(t), "seven");
        assert_eq!(r(t, &json!({"N": 9})), "nine");
        assert_eq!(r(t, &json!({"N": 3})), "other");
    }

    #[test]
    fn truthiness() {
        let t = "{{if .X}}T{{else}}F{{end}}";
        for (x, want) in [
            (json!(false), "F"),
            (json!(0), "F"),
            (json!(0.0), "F"),
            (json!(""), "F"),
            (json!(null), "F"),
            (json!([]), "F"),
            (json!({}), "F"),
            (json!(true), "T"),
            (json!(-1), "T"),
            (json!("0"), "T"),
            (json!([0]), "T"),
            (json!({"a": 1}), "T"),
        ] {
            assert_eq!(r(t, &json!({"X": x})), want, "{x}");
        }
        assert_eq!(r(t, &json!({})), "F");
    }

    #[test]
    fn with_and_else() {
        assert_eq!(ri("{{with .Config.Labels}}{{.a}}{{end}}"), "b");
        assert_eq!(ri("{{with .Empty}}x{{else}}empty{{end}}"), "empty");
        assert_eq!(
            ri("{{with $l := .Config.Labels}}{{$l.a}}{{.a}}{{end}}"),
            "bb"
        );
        assert_eq!(ri("{{with .Empty}}a{{else with .A}}{{.}}{{end}}"), "x");
    }

    #[test]
    fn printf_basic() {
        assert_eq!(ri(r#"{{printf "%s-%d" .A .N}}"#), "x-7");
        assert_eq!(
            ri(r#"{{printf "%v|%t|%q" .Args .State.Running .A}}"#),
            r#"[sh -c echo hi]|true|"x""#
        );
        assert_eq!(ri(r#"{{printf "%d%%" 50}}"#), "50%");
    }

    #[test]
    fn printf_width_flags() {
        assert_eq!(
            ri(r#"{{printf "[%-10s][%5d][%05d][%-5d][%+d]" .A .N .N .N .N}}"#),
            "[x         ][    7][00007][7    ][+7]"
        );
        assert_eq!(
            ri(r#"{{printf "[%6.2f][%x][%X][%#x][%o][%b][%c]" .F 255 255 255 8 5 65}}"#),
            "[  1.50][ff][FF][0xff][10][101][A]"
        );
        assert_eq!(
            ri(r#"{{printf "%e|%g|%.3g|%v" 1234.5678 0.00001 3.14159 .Big}}"#),
            "1.234568e+03|1e-05|3.14|1e+06"
        );
        assert_eq!(ri(r#"{{printf "%*d|%-*d|" 4 1 3 2}}"#), "   1|2  |");
    }

    #[test]
    fn printf_bad_args() {
        assert_eq!(ri(r#"{{printf "%d %s"  .N}}"#), "7 %!s(MISSING)");
        assert_eq!(ri(r#"{{printf "%d" .N .A}}"#), "7%!(EXTRA string=x)");
        assert_eq!(ri(r#"{{printf "%d" .A}}"#), "%!d(string=x)");
        assert_eq!(ri(r#"{{printf "%s" .State.Health}}"#), "%!s(<nil>)");
    }

    #[test]
    fn printf_precision_on_string_via_pipe() {
        assert_eq!(ri(r#"{{.Id | printf "%.12s"}}"#), "0123456789ab");
        assert_eq!(
            ri(r#"{{printf "%.3s|%8.3s|" "héllo" "abcdef"}}"#),
            "hél|     abc|"
        );
    }

    #[test]
    fn missing_and_nil() {
        assert_eq!(ri("{{.Missing}}"), "<no value>");
        assert_eq!(ri("{{.Missing.Deeper}}"), "<no value>");
        assert_eq!(ri("{{.State.Health}}"), "<nil>");
        assert_eq!(ri("{{print .Missing}}"), "<nil>");
    }

    #[test]
    fn field_errors() {
        let e = render_err("{{.State.Health.Status}}");
        assert!(
            e.starts_with("template parsing error: template: :1:2: executing"),
            "{e}"
        );
        assert!(
            e.contains("nil pointer evaluating interface {}.Status"),
            "{e}"
        );
        assert!(render_err("{{.Name.Foo}}").contains("can't evaluate field Foo in type string"));
        assert!(render_err("{{.Name 1}}").contains("can't give argument to non-function .Name"));
    }

    #[test]
    fn value_printing() {
        assert_eq!(ri("{{.Args}}"), "[sh -c echo hi]");
        assert_eq!(ri("{{.M}}"), "map[a:2 m:3 z:1]");
        assert_eq!(ri("{{.Nested}}"), "map[Obj:map[k:v n:[1 2]]]");
        assert_eq!(
            ri("{{.F}} {{.Big}} {{.N}} {{.Zero}} {{-3}} {{1e3}} {{0x10}}"),
            "1.5 1e+06 7 0 -3 1000 16"
        );
        assert_eq!(r("{{.}}", &json!(2.0)), "2");
        assert_eq!(r("{{.}}", &json!(123456.5)), "123456.5");
        assert_eq!(r("{{.}}", &json!(0.0001)), "0.0001");
        assert_eq!(r("{{.}}", &json!(u64::MAX)), "18446744073709551615");
        assert_eq!(ri("{{.}}").chars().next(), Some('m'));
    }

    #[test]
    fn string_funcs() {
        assert_eq!(ri("{{upper .Name}}"), "/WEB");
        assert_eq!(ri("{{lower \"AbC\"}}"), "abc");
        assert_eq!(
            ri("{{title \"hello wide-world foo_bar\"}}"),
            "Hello Wide-World Foo_bar"
        );
        assert_eq!(ri(r#"{{join .Args ","}}"#), "sh,-c,echo hi");
        assert_eq!(ri(r#"{{split "a:b:c" ":"}}"#), "[a b c]");
        assert_eq!(ri(r#"{{index (split "a:b:c" ":") 1}}"#), "b");
        assert_eq!(ri(r#"{{pad .A 2 3}}|{{pad "" 2 2}}|"#), "  x   ||");
        assert_eq!(ri("{{truncate .Id 5}}|{{truncate .A 5}}"), "01234|x");
        assert_eq!(ri("{{.Name | upper | printf \"<%s>\"}}"), "</WEB>");
    }

    #[test]
    fn len_func() {
        assert_eq!(ri("{{len .Args}}"), "3");
        assert_eq!(
            ri("{{len .M}} {{len .Name}} {{len .List}} {{len .State.Health}}"),
            "3 4 0 0"
        );
        assert!(render_err("{{len .N}}").contains("error calling len: len of type int"));
    }

    #[test]
    fn trim_markers() {
        assert_eq!(ri("a  {{- .A -}}  \n b"), "axb");
        assert_eq!(ri("{{range .Args -}}\n  {{.}}\n{{- end}}"), "sh-cecho hi");
        assert_eq!(ri("x {{-3}}"), "x -3");
        assert_eq!(ri("a {{/* comment */}} b"), "a  b");
        assert_eq!(ri("a {{- /* comment */ -}} b"), "ab");
    }

    #[test]
    fn nested_parens_and_logic() {
        assert_eq!(
            ri(r#"{{if and (eq .A "x") (gt (len .Args) 2)}}yes{{end}}"#),
            "yes"
        );
        assert_eq!(
            ri(r#"{{if or (eq .A "y") (not .State.Running)}}yes{{else}}no{{end}}"#),
            "no"
        );
        assert_eq!(ri("{{(index .Mounts 1).Source}}"), "/src2");
        assert_eq!(
            ri(r#"{{printf "%s/%s" (upper (index .Args 0)) (lower (printf "%s" "AB"))}}"#),
            "SH/ab"
        );
    }

    #[test]
    fn and_or_values() {
        assert_eq!(ri(r#"{{or .Missing .Empty "default"}}"#), "default");
        assert_eq!(ri(r#"{{and .A .N}}"#), "7");
        assert_eq!(ri(r#"{{and .Zero .Missing.X}}"#), "0");
        // Short-circuit: the erroring field after a decided `or` is never evaluated.
        assert_eq!(ri(r#"{{or .A .Name.Bad}}"#), "x");
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            ri("{{lt 1 2}} {{le 2 2}} {{gt .N 7}} {{ge .F 1}} {{ne .A \"x\"}}"),
            "true true false true false"
        );
        assert_eq!(
            ri(r#"{{lt "abc" "abd"}} {{eq .N 7.0}} {{eq .State.Health nil}}"#),
            "true true true"
        );
        assert!(render_err(r#"{{eq .N "7"}}"#).contains("incompatible types for comparison"));
        assert!(render_err(r#"{{lt true false}}"#).contains("invalid type for comparison"));
    }

    #[test]
    fn variables_and_root() {
        assert_eq!(
            ri("{{$n := .Name}}{{range .Args}}{{$n}}{{end}}"),
            "/web/web/web"
        );
        assert_eq!(ri("{{range .Mounts}}{{$.A}}{{end}}"), "xx");
        assert_eq!(ri("{{$x := 1}}{{range .Args}}{{$x = 2}}{{end}}{{$x}}"), "2");
        assert_eq!(ri(r#"{{$s := "a\tb\n"}}{{$s}}"#), "a\tb\n");
        assert!(parse_err("{{$nope}}").contains("undefined variable \"$nope\""));
        assert!(parse_err("{{if true}}{{$y := 1}}{{end}}{{$y}}").contains("undefined variable"));
    }

    #[test]
    fn print_and_println() {
        assert_eq!(ri(r#"{{print "a" "b" 1 2 "c" 3}}"#), "ab1 2c3");
        assert_eq!(ri(r#"{{println .A .N}}"#), "x 7\n");
        assert_eq!(ri("{{`raw\\t`}}{{'a'}}"), "raw\\t97");
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

    #[test]
    fn wrong_arg_counts() {
        assert!(
            render_err("{{join .Args}}").contains("wrong number of args for join: want 2 got 1")
        );
        assert!(render_err("{{upper}}").contains("wrong number of args for upper: want 1 got 0"));
    }

    #[test]
    fn tabwrite_docker_example() {
        assert_eq!(
            tabwrite("CONTAINER ID\tIMAGE\nabc\tbusybox\n"),
            "CONTAINER ID   IMAGE\nabc            busybox\n"
        );
    }

    #[test]
    fn tabwrite_minwidth_and_columns() {
        assert_eq!(tabwrite("a\tb\n"), "a         b\n");
        assert_eq!(
            tabwrite("NAME\tID\tSTATUS\nlongername-here\t1\tup\nx\t22\tdown"),
            "NAME              ID        STATUS\nlongername-here   1         up\nx                 22        down"
        );
        // Trailing tabs make a column too, so its cell gets padded.
        assert_eq!(tabwrite("a\tb\t\n"), "a         b         \n");
        assert_eq!(tabwrite("héllo\tx\n"), "héllo     x\n");
        assert_eq!(tabwrite(""), "");
    }

    #[test]
    fn tabwrite_blocks_break_on_tabless_lines() {
        // A line without a tab ends the column block, so widths are computed separately.
        assert_eq!(
            tabwrite("a-very-long-cell\t1\nplain line\nb\t2\n"),
            "a-very-long-cell   1\nplain line\nb         2\n"
        );
    }

    #[test]
    fn list_format_parsing() {
        let def = "table {{.ID}}\\t{{.Names}}";
        assert_eq!(
            list_format(None, def),
            ListFormat::Table {
                template: "{{.ID}}\t{{.Names}}".into()
            }
        );
        assert_eq!(
            list_format(Some("table"), def),
            ListFormat::Table {
                template: "{{.ID}}\t{{.Names}}".into()
            }
        );
        assert_eq!(
            list_format(Some(""), "{{.ID}}"),
            ListFormat::Table {
                template: "{{.ID}}".into()
            }
        );
        assert_eq!(
            list_format(Some("table {{.ID}}\\t{{.Image}}"), def),
            ListFormat::Table {
                template: "{{.ID}}\t{{.Image}}".into()
            }
        );
        assert_eq!(
            list_format(Some("{{.ID}}"), def),
            ListFormat::Raw("{{.ID}}".into())
        );
        assert_eq!(
            list_format(Some("{{.ID}}\\n"), def),
            ListFormat::Raw("{{.ID}}\n".into())
        );
        assert_eq!(list_format(Some("json"), def), ListFormat::Json);
        assert_eq!(list_format(Some(" json "), def), ListFormat::Json);
    }

    #[test]
    fn render_list_table() {
        let headers = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Names": "NAMES"});
        let items = vec![
            json!({"ID": "abc", "Image": "busybox", "Names": "web"}),
            json!({"ID": "defdefdefdef", "Image": "alpine:latest", "Names": "db"}),
        ];
        let fmt = list_format(Some("table {{.ID}}\\t{{.Image}}\\t{{upper .Names}}"), "");
        let out = render_list(&fmt, &headers, &items).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE           NAMES\n\
             abc            busybox         WEB\n\
             defdefdefdef   alpine:latest   DB\n"
        );
        // Headers only, even with no rows; unknown header fields print empty.
        let fmt = list_format(Some("table {{.ID}}\t{{.Size}}"), "");
        assert_eq!(
            render_list(&fmt, &headers, &[]).unwrap(),
            "CONTAINER ID   \n"
        );
    }

    #[test]
    fn render_list_raw_and_json() {
        let headers = json!({"ID": "CONTAINER ID"});
        let items = vec![json!({"ID": "a", "N": 1}), json!({"ID": "b", "N": 2})];
        let raw = render_list(&list_format(Some("{{.ID}}:{{.N}}"), ""), &headers, &items).unwrap();
        assert_eq!(raw, "a:1\nb:2\n");
        let js = render_list(&ListFormat::Json, &headers, &items).unwrap();
        assert_eq!(js, "{\"ID\":\"a\",\"N\":1}\n{\"ID\":\"b\",\"N\":2}\n");
        assert!(render_list(&ListFormat::Raw("{{bogus}}".into()), &headers, &items).is_err());
    }

    #[test]
    fn error_display_and_source() {
        let e = FormatError("boom".into());
        assert_eq!(e.to_string(), "template parsing error: boom");
        let dyn_err: &dyn std::error::Error = &e;
        assert!(dyn_err.source().is_none());
    }
}
