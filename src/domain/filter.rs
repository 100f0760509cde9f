//! SCIM filter and PATCH path grammar (RFC 7644 §3.4.2.2, §3.5.2) parsed into our own AST.
//!
//! Entry points:
//!
//! * [`parse_filter`] — the `filter` query parameter / `.search` body field.
//! * [`parse_patch_path`] — the `path` of a PATCH operation.
//! * [`parse_attr_path`] — a bare attribute path (`attributes=`, `excludedAttributes=`, `sortBy=`).
//!
//! Robustness guarantees (the input is untrusted client data):
//!
//! * No panics and no unbounded recursion. The and/or/grouping structure is parsed with an
//!   explicit stack, so parsing never recurses; the nesting depth (parentheses, `not (...)`,
//!   value-filter brackets) is capped by [`Limits::max_depth`] and the input length by
//!   [`Limits::max_len`] (counted in characters, checked before parsing).
//! * Linear time in the input length.
//! * Every error carries the byte offset where parsing failed and a short message suitable for
//!   a `400 invalidFilter` / `invalidPath` detail.
//!
//! Accepted extensions beyond the strict RFC grammar:
//!
//! * Keywords (`and`, `or`, `not`, `pr`, the comparison operators, `true`, `false`, `null`) are
//!   case-insensitive; runs of spaces, tabs, CR and LF count as whitespace; the space between a
//!   comparison operator and its value, and around `and`/`or` next to a quote or bracket, may be
//!   omitted; leading and trailing whitespace is ignored.
//! * `members.$ref` (`$ref` is accepted wherever an attribute name is expected).
//! * `emails[type eq "work"].value eq "x@y.z"` in a *filter* is read as
//!   `emails[type eq "work" and value eq "x@y.z"]` (some clients send it).
//! * Grouping and `not (...)` inside a value filter (RFC 7644 errata 7322).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use winnow::ascii::{Caseless, digit0, digit1};
use winnow::combinator::{alt, not, opt};
use winnow::error::ParserError as WinnowParserError;
use winnow::prelude::*;
use winnow::token::{literal, one_of, take_while};

// ---------------------------------------------------------------------------------------------
// Public AST
// ---------------------------------------------------------------------------------------------

/// A parsed SCIM filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath op compValue`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath "[" valFilter "]"` — `filter` paths are relative to `path` (sub-attributes of the multi-valued attribute).
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// An attribute path: `[URN ":"] attr ["." subAttr]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URN prefix if the path was URN-qualified, e.g. "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User". Kept as written.
    pub urn: Option<String>,
    /// Attribute name as written (callers match case-insensitively).
    ///
    /// Empty only for a bare schema URN returned by [`parse_attr_path`] / [`parse_patch_path`].
    pub attr: String,
    /// Sub-attribute, e.g. "familyName" in "name.familyName".
    pub sub_attr: Option<String>,
}

/// Attribute comparison operators (RFC 7644 Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// The literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// A PATCH `path`: `attrPath`, or `valuePath [ "." subAttr ]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The targeted attribute; `sub_attr` is set for "name.givenName". For a bare schema URN
    /// (`urn:...:2.0:User`) `urn` is the full URN and `attr` is empty.
    pub attr: AttrPath,
    /// The value filter, for "emails[type eq \"work\"]".
    pub filter: Option<Filter>,
    /// For "emails[type eq \"work\"].value" (the part after "]."); None otherwise.
    pub sub_attr: Option<String>,
}

/// A syntax error, with the byte offset into the input where parsing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

/// Resource limits applied while parsing untrusted input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum input length in characters.
    pub max_len: usize,
    /// Maximum nesting depth of parentheses, `not (...)` and value-filter brackets.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: 4096,
            max_depth: 32,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------

/// Parses a SCIM filter expression (RFC 7644 §3.4.2.2).
pub fn parse_filter(input: &str, limits: Limits) -> Result<Filter, ParseError> {
    check_len(input, limits.max_len, "filter")?;
    let cx = Cx::new(input, limits.max_depth);
    let mut i = input;
    expression(&mut i, &cx, false).map_err(|e| cx.error(e))
}

/// Parses a PATCH operation `path` (RFC 7644 §3.5.2):
/// `attrPath`, or `attrPath "[" valFilter "]" [ "." subAttr ]`.
///
/// A bare schema URN (e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`) is
/// returned as `attr: AttrPath { urn: Some(<full URN>), attr: "", sub_attr: None }`; see
/// [`parse_attr_path`] for how bare URNs are recognised.
pub fn parse_patch_path(input: &str, limits: Limits) -> Result<PatchPath, ParseError> {
    check_len(input, limits.max_len, "path")?;
    let cx = Cx::new(input, limits.max_depth);
    let mut i = input;
    patch_path(&mut i, &cx).map_err(|e| cx.error(e))
}

/// Parses a bare attribute path as used in `attributes=`, `excludedAttributes=`, `sortBy=`:
/// "userName", "name.familyName", "urn:...:User:department", "urn:...:User".
///
/// For a bare schema URN the result is `AttrPath { urn: Some(<full URN>), attr: "", sub_attr: None }`.
/// A URN is taken to be a bare schema URN when its last segment starts with an upper-case letter,
/// contains only name characters, and follows a version segment such as `2.0`
/// (`urn:ietf:params:scim:schemas:core:2.0:User`, `...:extension:enterprise:2.0:User`).
/// Otherwise the last `:`-separated segment is the attribute (`urn:example:ext:costCenter` →
/// urn `urn:example:ext`, attr `costCenter`); callers that know their schema list may want to
/// check whether `"{urn}:{attr}"` is itself a registered schema URN.
///
/// Leading and trailing whitespace is ignored. Input is limited to
/// [`Limits::default`]`.max_len` characters.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, ParseError> {
    let limits = Limits::default();
    check_len(input, limits.max_len, "attribute path")?;
    let cx = Cx::new(input, limits.max_depth);
    let mut i = input;
    standalone_attr_path(&mut i).map_err(|e| cx.error(e))
}

// ---------------------------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------------------------

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            f.write_str(urn)?;
            if self.attr.is_empty() {
                return Ok(());
            }
            f.write_char(':')?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            f.write_char('.')?;
            f.write_str(sub)?;
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    /// Renders canonical filter text (lower-case keywords, single spaces, minimal parentheses,
    /// JSON-escaped strings) that re-parses to an equal AST.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(..) | Filter::Or(..) => {
                // Walk the left spine iteratively so long and/or chains do not recurse.
                let is_and = matches!(self, Filter::And(..));
                let mut rights: Vec<&Filter> = Vec::new();
                let mut leftmost = self;
                loop {
                    match leftmost {
                        Filter::And(l, r) if is_and => {
                            rights.push(r);
                            leftmost = l;
                        }
                        Filter::Or(l, r) if !is_and => {
                            rights.push(r);
                            leftmost = l;
                        }
                        _ => break,
                    }
                }
                write_operand(f, leftmost, is_and)?;
                for r in rights.iter().rev() {
                    f.write_str(if is_and { " and " } else { " or " })?;
                    write_operand(f, r, is_and)?;
                }
                Ok(())
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Compare { path, op, value } => {
                write!(f, "{path} {} ", op_str(*op))?;
                write_value(f, value)
            }
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// Writes an operand of an and/or chain, parenthesised where needed to keep the AST shape
/// (`and` binds tighter than `or`; both are left-associative).
fn write_operand(f: &mut fmt::Formatter<'_>, child: &Filter, parent_is_and: bool) -> fmt::Result {
    let paren = match child {
        Filter::Or(..) => true,
        Filter::And(..) => parent_is_and,
        _ => false,
    };
    if paren {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

fn op_str(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "eq",
        CompareOp::Ne => "ne",
        CompareOp::Co => "co",
        CompareOp::Sw => "sw",
        CompareOp::Ew => "ew",
        CompareOp::Gt => "gt",
        CompareOp::Ge => "ge",
        CompareOp::Lt => "lt",
        CompareOp::Le => "le",
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &CompValue) -> fmt::Result {
    match value {
        CompValue::Null => f.write_str("null"),
        CompValue::Bool(b) => write!(f, "{b}"),
        CompValue::Number(n) => write!(f, "{n}"),
        CompValue::String(s) => write_json_string(f, s),
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

// ---------------------------------------------------------------------------------------------
// Errors and context
// ---------------------------------------------------------------------------------------------

/// Internal error: remembers how much input was left where it happened, so it can be turned
/// into an absolute byte offset at the end.
#[derive(Debug)]
struct PErr {
    remaining: usize,
    message: Cow<'static, str>,
}

impl PErr {
    fn at(rest: &str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            remaining: rest.len(),
            message: message.into(),
        }
    }

    /// Error at byte `offset` of `rest`.
    fn at_offset(rest: &str, offset: usize, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            remaining: rest.len().saturating_sub(offset),
            message: message.into(),
        }
    }
}

impl<'i> WinnowParserError<&'i str> for PErr {
    type Inner = Self;

    fn from_input(input: &&'i str) -> Self {
        Self::at(input, "syntax error")
    }

    fn into_inner(self) -> Result<Self::Inner, Self> {
        Ok(self)
    }
}

type PResult<T> = Result<T, PErr>;

struct Cx {
    total: usize,
    max_depth: usize,
}

impl Cx {
    fn new(input: &str, max_depth: usize) -> Self {
        Self {
            total: input.len(),
            max_depth,
        }
    }

    fn pos(&self, remaining: usize) -> usize {
        self.total.saturating_sub(remaining)
    }

    fn error(&self, e: PErr) -> ParseError {
        ParseError {
            position: self.pos(e.remaining),
            message: e.message.into_owned(),
        }
    }

    fn too_deep(&self, rest: &str) -> PErr {
        PErr::at(
            rest,
            format!(
                "filter nested too deeply (maximum depth is {})",
                self.max_depth
            ),
        )
    }
}

fn check_len(input: &str, max_len: usize, what: &str) -> Result<(), ParseError> {
    match input.char_indices().nth(max_len) {
        Some((position, _)) => Err(ParseError {
            position,
            message: format!("{what} longer than {max_len} characters"),
        }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens (winnow)
// ---------------------------------------------------------------------------------------------

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `nameChar = "-" / "_" / DIGIT / ALPHA`
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Characters that may not directly follow a number or `true`/`false`/`null`.
fn is_value_continuation(c: char) -> bool {
    is_name_char(c) || c == '.'
}

/// Characters of a URN-qualified attribute path (`urn:...:2.0:User:name.familyName`).
fn is_urn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | ':' | '%' | '+' | '$')
}

/// Skips optional whitespace, returning how many bytes were skipped.
fn ws0(i: &mut &str) -> PResult<usize> {
    take_while(0.., is_ws).map(|s: &str| s.len()).parse_next(i)
}

/// Consumes `c` if it is the next character.
fn eat(i: &mut &str, c: char) -> bool {
    match i.strip_prefix(c) {
        Some(rest) => {
            *i = rest;
            true
        }
        None => false,
    }
}

/// A case-insensitive keyword that is not immediately followed by a name character.
fn keyword<'i>(kw: &'static str) -> impl Parser<&'i str, &'i str, PErr> {
    (literal(Caseless(kw)), not(one_of(is_name_char))).map(|(k, ())| k)
}

/// Tries `kw`, consuming it (and nothing else) on success.
fn eat_keyword(i: &mut &str, kw: &'static str) -> PResult<bool> {
    Ok(opt(keyword(kw)).parse_next(i)?.is_some())
}

fn compare_op(i: &mut &str) -> PResult<CompareOp> {
    alt((
        keyword("eq").value(CompareOp::Eq),
        keyword("ne").value(CompareOp::Ne),
        keyword("co").value(CompareOp::Co),
        keyword("sw").value(CompareOp::Sw),
        keyword("ew").value(CompareOp::Ew),
        keyword("gt").value(CompareOp::Gt),
        keyword("ge").value(CompareOp::Ge),
        keyword("lt").value(CompareOp::Lt),
        keyword("le").value(CompareOp::Le),
    ))
    .parse_next(i)
}

/// `ATTRNAME = ALPHA *(nameChar)`, or `$ref`.
fn attr_name_token<'i>(i: &mut &'i str) -> PResult<&'i str> {
    alt((
        literal("$ref"),
        (
            one_of(|c: char| c.is_ascii_alphabetic()),
            take_while(0.., is_name_char),
        )
            .take(),
    ))
    .parse_next(i)
}

fn attr_name(i: &mut &str, expected: &'static str) -> PResult<String> {
    let before = *i;
    match attr_name_token(i) {
        Ok(name) => Ok(name.to_owned()),
        Err(_) => {
            *i = before;
            Err(PErr::at(before, expected))
        }
    }
}

/// The JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_token<'i>(i: &mut &'i str) -> PResult<&'i str> {
    (
        opt('-'),
        alt(('0'.void(), (one_of('1'..='9'), digit0).void())),
        opt(('.', digit1)),
        opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)),
    )
        .take()
        .parse_next(i)
}

fn number_value(i: &mut &str) -> PResult<serde_json::Number> {
    let start = *i;
    let token = match number_token(i) {
        Ok(token) => token,
        Err(_) => {
            *i = start;
            return Err(PErr::at(start, "invalid number"));
        }
    };
    if i.starts_with(is_value_continuation) {
        *i = start;
        return Err(PErr::at(start, "invalid number"));
    }
    token
        .parse::<serde_json::Number>()
        .map_err(|_| PErr::at(start, "number out of range"))
}

/// A JSON string literal, decoded. `i` must start with `"`.
fn string_value(i: &mut &str) -> PResult<String> {
    let start = *i;
    let bytes = start.as_bytes();
    let mut idx = 1;
    loop {
        match bytes.get(idx).copied() {
            None => return Err(PErr::at(start, "unterminated string")),
            Some(b'"') => break,
            Some(b'\\') => match bytes.get(idx + 1).copied() {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => idx += 2,
                Some(b'u') => {
                    let hex_ok = bytes
                        .get(idx + 2..idx + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                    if !hex_ok {
                        return Err(PErr::at_offset(
                            start,
                            idx,
                            "invalid \\u escape in string (expected 4 hex digits)",
                        ));
                    }
                    idx += 6;
                }
                None => return Err(PErr::at(start, "unterminated string")),
                Some(_) => {
                    return Err(PErr::at_offset(
                        start,
                        idx,
                        "invalid escape sequence in string",
                    ));
                }
            },
            Some(b) if b < 0x20 => {
                return Err(PErr::at_offset(
                    start,
                    idx,
                    "control characters in strings must be escaped",
                ));
            }
            Some(_) => idx += 1,
        }
    }
    // `idx` is the byte offset of the closing quote (ASCII), so this split is on a char boundary.
    let Some((token, rest)) = start.split_at_checked(idx + 1) else {
        return Err(PErr::at(start, "unterminated string"));
    };
    let value: String = serde_json::from_str(token)
        .map_err(|_| PErr::at(start, "invalid unicode escape in string"))?;
    *i = rest;
    Ok(value)
}

fn comp_value(i: &mut &str) -> PResult<CompValue> {
    match i.chars().next() {
        Some('"') => return string_value(i).map(CompValue::String),
        Some(c) if c == '-' || c.is_ascii_digit() => return number_value(i).map(CompValue::Number),
        _ => {}
    }
    let literal_value = opt(alt((
        value_keyword("true").value(CompValue::Bool(true)),
        value_keyword("false").value(CompValue::Bool(false)),
        value_keyword("null").value(CompValue::Null),
    )))
    .parse_next(i)?;
    literal_value.ok_or_else(|| {
        PErr::at(
            i,
            "expected comparison value (a quoted string, number, true, false or null)",
        )
    })
}

fn value_keyword<'i>(kw: &'static str) -> impl Parser<&'i str, &'i str, PErr> {
    (literal(Caseless(kw)), not(one_of(is_value_continuation))).map(|(k, ())| k)
}

// ---------------------------------------------------------------------------------------------
// Attribute paths
// ---------------------------------------------------------------------------------------------

/// `ATTRNAME ["." ATTRNAME]`; returns the attribute and sub-attribute.
fn name_and_sub(i: &mut &str) -> PResult<(String, Option<String>)> {
    let attr = attr_name(i, "expected attribute name")?;
    let sub = if eat(i, '.') {
        Some(attr_name(i, "expected sub-attribute name after '.'")?)
    } else {
        None
    };
    if i.starts_with('.') {
        return Err(PErr::at(
            i,
            "attribute path may contain at most one sub-attribute",
        ));
    }
    Ok((attr, sub))
}

fn is_version_segment(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `urn:...:2.0:User` — see [`parse_attr_path`].
fn looks_like_bare_schema_urn(urn_prefix: &str, last: &str) -> bool {
    last.starts_with(|c: char| c.is_ascii_uppercase())
        && last.chars().all(is_name_char)
        && urn_prefix
            .rsplit(':')
            .next()
            .is_some_and(is_version_segment)
}

/// An attribute path, optionally URN-qualified. With `allow_bare`, a bare schema URN yields
/// `attr == ""`.
fn attr_path(i: &mut &str, allow_bare: bool) -> PResult<AttrPath> {
    let start = *i;
    let is_urn = start
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    if !is_urn {
        let (attr, sub_attr) = name_and_sub(i)?;
        return Ok(AttrPath {
            urn: None,
            attr,
            sub_attr,
        });
    }

    let run: &str = take_while(1.., is_urn_char).parse_next(i)?;
    let after_run = i.len();
    let Some((urn, attr_part)) = run.rsplit_once(':') else {
        return Err(PErr::at(start, "invalid schema URN"));
    };
    if urn.len() <= "urn".len() {
        return Err(PErr::at(
            start,
            "schema URN must be followed by ':' and an attribute name",
        ));
    }
    if attr_part.is_empty() {
        return Err(PErr::at(i, "expected attribute name after schema URN"));
    }
    if allow_bare && looks_like_bare_schema_urn(urn, attr_part) {
        return Ok(AttrPath {
            urn: Some(run.to_owned()),
            attr: String::new(),
            sub_attr: None,
        });
    }
    // The attribute part must be exactly `ATTRNAME ["." ATTRNAME]`; offsets inside it are
    // shifted by whatever follows the URN run.
    let mut part = attr_part;
    let shift = |mut e: PErr| {
        e.remaining += after_run;
        e
    };
    let (attr, sub_attr) = name_and_sub(&mut part).map_err(shift)?;
    if !part.is_empty() {
        return Err(shift(PErr::at(part, "invalid character in attribute name")));
    }
    Ok(AttrPath {
        urn: Some(urn.to_owned()),
        attr,
        sub_attr,
    })
}

fn standalone_attr_path(i: &mut &str) -> PResult<AttrPath> {
    ws0(i)?;
    if i.is_empty() {
        return Err(PErr::at(i, "empty attribute path"));
    }
    let path = attr_path(i, true)?;
    ws0(i)?;
    if i.starts_with('[') {
        return Err(PErr::at(
            i,
            "value filters are not allowed in an attribute path",
        ));
    }
    if !i.is_empty() {
        return Err(PErr::at(i, "unexpected trailing input"));
    }
    Ok(path)
}

fn patch_path(i: &mut &str, cx: &Cx) -> PResult<PatchPath> {
    ws0(i)?;
    if i.is_empty() {
        return Err(PErr::at(i, "empty path"));
    }
    let attr = attr_path(i, true)?;
    let mut filter = None;
    let mut sub_attr = None;
    if i.starts_with('[') {
        if attr.attr.is_empty() {
            return Err(PErr::at(
                i,
                "a value filter must follow an attribute name, not a schema URN",
            ));
        }
        if attr.sub_attr.is_some() {
            return Err(PErr::at(i, "a value filter cannot follow a sub-attribute"));
        }
        if cx.max_depth == 0 {
            return Err(cx.too_deep(i));
        }
        eat(i, '[');
        filter = Some(expression(i, cx, true)?);
        if eat(i, '.') {
            sub_attr = Some(attr_name(i, "expected sub-attribute name after '.'")?);
            if i.starts_with('.') {
                return Err(PErr::at(
                    i,
                    "attribute path may contain at most one sub-attribute",
                ));
            }
        }
    }
    ws0(i)?;
    if !i.is_empty() {
        return Err(PErr::at(i, "unexpected trailing input"));
    }
    Ok(PatchPath {
        attr,
        filter,
        sub_attr,
    })
}

// ---------------------------------------------------------------------------------------------
// Expressions (iterative; explicit stack instead of recursion)
// ---------------------------------------------------------------------------------------------

enum FrameKind {
    /// Top level of a filter (ends at end of input), or of a PATCH value filter
    /// (`bracket == true`; ends at the closing `]`).
    Root { bracket: bool },
    /// `( ... )`
    Group,
    /// `not ( ... )`
    Not,
    /// `attrPath [ ... ]`
    Bracket(AttrPath),
}

struct Frame {
    kind: FrameKind,
    /// Input remaining at the opening token, for error messages.
    open_remaining: usize,
    /// Completed `or` operands.
    any: Option<Filter>,
    /// The `and` chain being built.
    all: Option<Filter>,
}

impl Frame {
    fn new(kind: FrameKind, open_remaining: usize) -> Self {
        Self {
            kind,
            open_remaining,
            any: None,
            all: None,
        }
    }

    fn push_operand(&mut self, f: Filter) {
        self.all = Some(match self.all.take() {
            Some(a) => Filter::And(Box::new(a), Box::new(f)),
            None => f,
        });
    }

    fn push_or(&mut self) {
        if let Some(a) = self.all.take() {
            self.any = Some(match self.any.take() {
                Some(o) => Filter::Or(Box::new(o), Box::new(a)),
                None => a,
            });
        }
    }

    fn finish(mut self, at: &str) -> PResult<(FrameKind, Filter)> {
        self.push_or();
        match self.any {
            Some(f) => Ok((self.kind, f)),
            None => Err(PErr::at(at, "empty expression")),
        }
    }

    fn is_empty(&self) -> bool {
        self.any.is_none() && self.all.is_none()
    }
}

/// `(` or `not (`: consumes it and returns the frame kind, or consumes nothing.
fn open_group(i: &mut &str) -> PResult<Option<FrameKind>> {
    if eat(i, '(') {
        return Ok(Some(FrameKind::Group));
    }
    let before = *i;
    if eat_keyword(i, "not")? {
        ws0(i)?;
        if eat(i, '(') {
            return Ok(Some(FrameKind::Not));
        }
    }
    *i = before;
    Ok(None)
}

/// After an attribute path: ` pr` or ` op value`.
fn attr_expr_rest(i: &mut &str, path: AttrPath) -> PResult<Filter> {
    let spaces = ws0(i)?;
    if spaces > 0 {
        if eat_keyword(i, "pr")? {
            return Ok(Filter::Present(path));
        }
        if let Some(op) = opt(compare_op).parse_next(i)? {
            ws0(i)?;
            let value = comp_value(i)?;
            return Ok(Filter::Compare { path, op, value });
        }
    }
    let is_not = path.urn.is_none()
        && path.sub_attr.is_none()
        && path.attr.eq_ignore_ascii_case("not")
        && spaces > 0;
    let message = if is_not {
        "expected '(' after 'not'"
    } else {
        "expected comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or 'pr'"
    };
    Err(PErr::at(i, message))
}

/// Parses a filter expression. With `bracket_root` the input starts just after a PATCH path's
/// `[`, and parsing stops after the matching `]`; otherwise it runs to the end of the input.
fn expression(i: &mut &str, cx: &Cx, bracket_root: bool) -> PResult<Filter> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut cur = Frame::new(
        FrameKind::Root {
            bracket: bracket_root,
        },
        i.len().saturating_add(1),
    );
    let mut depth = usize::from(bracket_root);
    let mut in_bracket = bracket_root;

    'operand: loop {
        // ---- expecting an operand ----
        ws0(i)?;
        let operand_start = *i;
        if let Some(kind) = open_group(i)? {
            depth += 1;
            if depth > cx.max_depth {
                return Err(cx.too_deep(operand_start));
            }
            let parent = std::mem::replace(&mut cur, Frame::new(kind, operand_start.len()));
            stack.push(parent);
            continue 'operand;
        }
        if i.is_empty() {
            let message = if stack.is_empty() && !bracket_root && cur.is_empty() {
                "empty filter"
            } else {
                "expected attribute path, '(' or 'not'"
            };
            return Err(PErr::at(i, message));
        }
        let path = attr_path(i, false).map_err(|e| {
            if e.remaining == operand_start.len() && e.message == "expected attribute name" {
                PErr::at(operand_start, "expected attribute path, '(' or 'not'")
            } else {
                e
            }
        })?;
        if i.starts_with('[') {
            if in_bracket {
                return Err(PErr::at(i, "nested value filters are not allowed"));
            }
            if path.sub_attr.is_some() {
                return Err(PErr::at(i, "a value filter cannot follow a sub-attribute"));
            }
            depth += 1;
            if depth > cx.max_depth {
                return Err(cx.too_deep(i));
            }
            let open_remaining = i.len();
            eat(i, '[');
            in_bracket = true;
            let parent = std::mem::replace(
                &mut cur,
                Frame::new(FrameKind::Bracket(path), open_remaining),
            );
            stack.push(parent);
            continue 'operand;
        }
        let mut operand = attr_expr_rest(i, path)?;

        // ---- expecting `and`, `or`, a closing bracket, or the end ----
        loop {
            cur.push_operand(operand);
            ws0(i)?;
            if eat_keyword(i, "and")? {
                continue 'operand;
            }
            if eat_keyword(i, "or")? {
                cur.push_or();
                continue 'operand;
            }
            let here = *i;
            let open_pos = cx.pos(cur.open_remaining);
            match (here.chars().next(), &cur.kind) {
                (Some(')'), FrameKind::Group | FrameKind::Not) => {
                    eat(i, ')');
                    let Some(parent) = stack.pop() else {
                        return Err(PErr::at(here, "unmatched ')'"));
                    };
                    let (kind, inner) = std::mem::replace(&mut cur, parent).finish(here)?;
                    depth = depth.saturating_sub(1);
                    operand = match kind {
                        FrameKind::Not => Filter::Not(Box::new(inner)),
                        _ => inner,
                    };
                }
                (Some(']'), FrameKind::Bracket(_)) => {
                    eat(i, ']');
                    let Some(parent) = stack.pop() else {
                        return Err(PErr::at(here, "unmatched ']'"));
                    };
                    let (kind, mut inner) = std::mem::replace(&mut cur, parent).finish(here)?;
                    depth = depth.saturating_sub(1);
                    in_bracket = false;
                    let FrameKind::Bracket(path) = kind else {
                        return Err(PErr::at(here, "unmatched ']'"));
                    };
                    // Extension: `emails[type eq "work"].value eq "x"` ≡
                    // `emails[type eq "work" and value eq "x"]`.
                    if eat(i, '.') {
                        let sub = attr_name(i, "expected sub-attribute name after '.'")?;
                        if i.starts_with('.') {
                            return Err(PErr::at(
                                i,
                                "attribute path may contain at most one sub-attribute",
                            ));
                        }
                        let sub_path = AttrPath {
                            urn: None,
                            attr: sub,
                            sub_attr: None,
                        };
                        let extra = attr_expr_rest(i, sub_path)?;
                        inner = Filter::And(Box::new(inner), Box::new(extra));
                    }
                    operand = Filter::ValuePath {
                        path,
                        filter: Box::new(inner),
                    };
                }
                (Some(']'), FrameKind::Root { bracket: true }) => {
                    eat(i, ']');
                    return cur.finish(here).map(|(_, f)| f);
                }
                (None, FrameKind::Root { bracket: false }) => {
                    return cur.finish(here).map(|(_, f)| f);
                }
                (Some(')'), FrameKind::Root { bracket: false }) => {
                    return Err(PErr::at(here, "unmatched ')'"));
                }
                (Some(']'), FrameKind::Root { bracket: false }) => {
                    return Err(PErr::at(here, "unmatched ']'"));
                }
                (Some(')'), FrameKind::Bracket(_) | FrameKind::Root { bracket: true }) => {
                    return Err(PErr::at(
                        here,
                        format!("expected ']' to close the '[' at position {open_pos}"),
                    ));
                }
                (Some(']'), FrameKind::Group | FrameKind::Not) => {
                    return Err(PErr::at(
                        here,
                        format!("expected ')' to close the '(' at position {open_pos}"),
                    ));
                }
                (None, FrameKind::Bracket(_)) => {
                    return Err(PErr::at(
                        here,
                        format!("missing ']' to close the '[' at position {open_pos}"),
                    ));
                }
                (None, FrameKind::Root { bracket: true }) => {
                    return Err(PErr::at(
                        here,
                        format!("missing ']' to close the '[' at position {open_pos}"),
                    ));
                }
                (None, FrameKind::Group | FrameKind::Not) => {
                    return Err(PErr::at(
                        here,
                        format!("missing ')' to close the '(' at position {open_pos}"),
                    ));
                }
                (Some(_), FrameKind::Root { bracket: false }) => {
                    return Err(PErr::at(
                        here,
                        "unexpected trailing input (expected 'and', 'or' or end of filter)",
                    ));
                }
                (Some(_), FrameKind::Bracket(_) | FrameKind::Root { bracket: true }) => {
                    return Err(PErr::at(here, "expected 'and', 'or' or ']'"));
                }
                (Some(_), FrameKind::Group | FrameKind::Not) => {
                    return Err(PErr::at(here, "expected 'and', 'or' or ')'"));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
