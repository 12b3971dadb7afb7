//! The lexer: splits a template into text and the tokens inside `{{ }}`, applying
//! trim markers and dropping comments so the parser never sees them.

use super::{parse_err, FormatError};
use serde_json::Number;

/// A token; text outside actions is one `Text` token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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

/// A token and where it starts, for error messages.
#[derive(Debug)]
pub(super) struct Item {
    pub(super) tok: Tok,
    pub(super) pos: usize,
    /// No whitespace precedes the token; `(x).Field` chains only when adjacent.
    pub(super) adjacent: bool,
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

/// Tokenizes `src`; the only errors are Go's lexer errors (unclosed action, bad literal...).
pub(super) fn lex(src: &str) -> Result<Vec<Item>, FormatError> {
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

#[cfg(test)]
mod tests {
    use crate::template::testutil::ri;

    #[test]
    fn trim_markers() {
        assert_eq!(ri("a  {{- .A -}}  \n b"), "axb");
        assert_eq!(ri("{{range .Args -}}\n  {{.}}\n{{- end}}"), "sh-cecho hi");
        assert_eq!(ri("x {{-3}}"), "x -3");
        assert_eq!(ri("a {{/* comment */}} b"), "a  b");
        assert_eq!(ri("a {{- /* comment */ -}} b"), "ab");
    }
}
