//! Label matchers with Alertmanager's semantics and string syntax.
//!
//! A [`Matcher`] compares one label of an alert with a value: `=` (equal), `!=` (not equal),
//! `=~` (regex matches) or `!~` (regex does not match). Rules taken from Alertmanager's
//! `pkg/labels` package (version 0.25, the one Debian ships):
//!
//! - A missing label is the empty string, so `team!="db"` matches an alert without `team`,
//!   and `team=~".*"` matches every alert.
//! - Regexes are fully anchored: the pattern `p` is compiled as `^(?:p)$`, so
//!   `service=~"api"` does not match `api-gateway`.
//! - Regexes use RE2 syntax (Go's `regexp`); the `regex` crate implements the same syntax. Where
//!   the two differ by default, Go's meaning is kept: `\d`, `\w`, `\s` and `\b` (and their
//!   negations) are ASCII-only in Go, so they are rewritten to the ASCII classes before
//!   compiling. Go-only constructs the `regex` crate rejects (`\C`) are errors.
//!
//! The string syntax ([`parse_matchers`]) is Alertmanager's "classic" parser: an optional
//! `{`…`}`, matchers separated by commas outside double quotes (a trailing comma is allowed),
//! each matcher `name op value` with optional whitespace around every token. The name is
//! `[a-zA-Z_:][a-zA-Z0-9_:]*`. The value may be double-quoted; inside it `\"`, `\\` and `\n`
//! are escapes, any other `\` is a literal backslash, and an unescaped `"` anywhere but at the
//! ends is an error. Unquoted values run to the next separating comma, surrounding
//! whitespace trimmed: `foo=bar baz` has the value `bar baz`.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::model::{label_value, text_eq, LabelSet};

/// How a [`Matcher`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchType {
    /// `=`: the label's value equals the matcher's value.
    Equal,
    /// `!=`: the label's value differs from the matcher's value.
    NotEqual,
    /// `=~`: the label's value matches the anchored regex.
    Regex,
    /// `!~`: the label's value does not match the anchored regex.
    NotRegex,
}

impl MatchType {
    /// The operator as written: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a matcher could not be built. The caller adds the configuration path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatcherError {
    /// The text is not `name op value` (Alertmanager: `bad matcher format`), or the value has
    /// a stray double quote.
    Syntax(String),
    /// The regex does not compile.
    Regex(String),
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatcherError::Syntax(s) | MatcherError::Regex(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for MatcherError {}

/// One label matcher. Two matchers are equal when name, operator and value are.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    match_type: MatchType,
    value: String,
    regex: Option<AnchoredRegex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.match_type == other.match_type && self.value == other.value
    }
}

impl Eq for Matcher {}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Matcher {
    /// Alertmanager's order: by name, then value, then operator.
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.name, &self.value, self.match_type).cmp(&(
            &other.name,
            &other.value,
            other.match_type,
        ))
    }
}

impl Matcher {
    /// A matcher on `name` with the given operator and value. The label name is not
    /// checked here (the string parser and the config validation check it).
    ///
    /// # Errors
    ///
    /// [`MatcherError::Regex`] when `match_type` is a regex type and `value` does not compile.
    pub fn new(
        match_type: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let regex = match match_type {
            MatchType::Regex | MatchType::NotRegex => Some(compile_anchored(&value)?),
            MatchType::Equal | MatchType::NotEqual => None,
        };
        Ok(Matcher {
            name: name.into(),
            match_type,
            value,
            regex,
        })
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn match_type(&self) -> MatchType {
        self.match_type
    }

    /// The value (for regex matchers, the pattern before anchoring).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher. Pass `""` for a missing label.
    #[inline]
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.match_type, &self.regex) {
            (MatchType::Equal, _) => text_eq(v, &self.value),
            (MatchType::NotEqual, _) => !text_eq(v, &self.value),
            (MatchType::Regex, Some(re)) => re.is_full_match(v),
            (MatchType::NotRegex, Some(re)) => !re.is_full_match(v),
            // Not reachable: `new` always compiles a regex for the regex types. Fall back to
            // "no match" rather than panic.
            (MatchType::Regex | MatchType::NotRegex, None) => false,
        }
    }

    /// Whether the alert's labels satisfy the matcher (a missing label is `""`).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(label_value(labels, &self.name))
    }

    /// A rough rank of what [`matches_value`](Self::matches_value) costs, cheapest first, so
    /// that a conjunction can try its cheap matchers before its expensive ones (the result of
    /// a conjunction does not depend on the order).
    pub(crate) fn cost(&self) -> u8 {
        match &self.regex {
            None => 0,
            Some(re) => match re.shape {
                Shape::Literals(_) => 1,
                Shape::Span(_) => 2,
                Shape::General => 3,
            },
        }
    }
}

impl fmt::Display for Matcher {
    /// Alertmanager's form: `name="value"` with `\`, newline and `"` escaped, which
    /// [`parse_matchers`] reads back to an equal matcher.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.match_type)?;
        for c in self.value.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '"' => f.write_str("\\\"")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A conjunction of matchers, kept in Alertmanager's sort order. The empty set matches
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    /// Sorts the matchers into Alertmanager's order (name, value, operator).
    pub fn new(mut matchers: Vec<Matcher>) -> Self {
        matchers.sort();
        Matchers(matchers)
    }

    /// Whether every matcher matches the labels.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    /// The matchers, sorted.
    pub fn as_slice(&self) -> &[Matcher] {
        &self.0
    }

    /// Whether there are no matchers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Matchers {
    /// `{a="1",b=~"x|y"}`, as Alertmanager prints a route's matchers in its route key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Parses a comma-separated list of matchers, optionally in braces:
/// `{severity="page", team=~"db|infra", }` or `severity=page,team!=web`.
///
/// # Errors
///
/// [`MatcherError::Syntax`] for text Alertmanager refuses, [`MatcherError::Regex`] for a
/// regex that does not compile.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = input.strip_prefix('{').unwrap_or(input);
    let s = s.strip_suffix('}').unwrap_or(s);

    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut inside_quotes = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if escaped {
                    escaped = false;
                } else {
                    inside_quotes = !inside_quotes;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    // Go's strings.TrimSpace: Unicode White_Space, like `char::is_whitespace`.
    let last = token.trim();
    if !last.is_empty() {
        tokens.push(last.to_owned());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// Go's `\s`: tab, newline, form feed, carriage return, space (not vertical tab).
fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0C' | '\r' | ' ')
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Parses one matcher: `name op value`.
///
/// # Errors
///
/// As [`parse_matchers`].
pub fn parse_matcher(input: &str) -> Result<Matcher, MatcherError> {
    let bad = || MatcherError::Syntax(format!("bad matcher format: {input}"));
    let s = input.trim_start_matches(is_go_space);
    let name_len = s
        .char_indices()
        .find(|&(i, c)| {
            if i == 0 {
                !is_name_start(c)
            } else {
                !is_name_char(c)
            }
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    if name_len == 0 {
        return Err(bad());
    }
    let (name, rest) = s.split_at(name_len);
    let rest = rest.trim_start_matches(is_go_space);
    // `=~` before `=`, as in Alertmanager's regex alternation.
    let (match_type, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else {
        return Err(bad());
    };
    let raw = rest.trim_matches(is_go_space);

    let (raw, mut expect_trailing_quote) = match raw.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw, false),
    };
    let stray_quote = || {
        MatcherError::Syntax(format!(
            "matcher value contains unescaped double quote: {raw}"
        ))
    };
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    let mut chars = raw.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
            continue;
        }
        let is_last = chars.peek().is_none();
        match c {
            '\\' if !is_last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || !is_last {
                    return Err(stray_quote());
                }
                expect_trailing_quote = false;
            }
            other => value.push(other),
        }
    }
    if expect_trailing_quote {
        return Err(stray_quote());
    }
    Matcher::new(match_type, name, value)
}

/// Compiles `^(?:pattern)$` with Go's ASCII meaning of `\d \w \s \b`.
fn compile_anchored(pattern: &str) -> Result<AnchoredRegex, MatcherError> {
    let translated = go_perl_classes_to_ascii(pattern);
    let regex = Regex::new(&format!("^(?:{translated})$"))
        .map_err(|e| MatcherError::Regex(e.to_string()))?;
    Ok(AnchoredRegex::new(regex, &translated))
}

/// Up to how many literals a [`Shape::Literals`] test compares one by one (more: binary
/// search).
const SCAN_LITERALS: usize = 8;

/// How many prefix (or suffix) literals a regex may have for the quick rejection test.
const MAX_AFFIXES: usize = 8;

/// A fully anchored regex plus what its syntax tree tells about the values it matches, so
/// that most values are decided without running the regex engine.
///
/// Routing evaluates many regex matchers per alert, and most of them fail: a regex search,
/// even a cheap anchored one, costs a few hundred instructions of setup (input, cache pool,
/// engine choice), while a literal comparison costs a few. Everything here is derived from
/// the same syntax tree the `regex` crate compiles (same parser, same default flags), and
/// each shortcut is exact: [`AnchoredRegex::is_full_match`] always answers what
/// `regex.is_match` answers.
#[derive(Debug, Clone)]
struct AnchoredRegex {
    regex: Regex,
    shape: Shape,
    /// Bounds on the UTF-8 length of a matching value (`max_len` `None`: unbounded).
    min_len: usize,
    max_len: Option<usize>,
    /// Every matching value starts with one of these (empty: no such knowledge).
    prefixes: Box<[Box<str>]>,
    /// Every matching value ends with one of these (empty: no such knowledge).
    suffixes: Box<[Box<str>]>,
}

/// The language of a pattern when it has a form simple enough to test without the engine.
#[derive(Debug, Clone)]
enum Shape {
    /// Exactly these strings (sorted, unique) match, e.g. `critical|page` or `svc[0-3]`.
    Literals(Box<[Box<str>]>),
    /// `prefix`, then `min..=max` characters of one class, then `suffix`, e.g.
    /// `svc3-[a-z]+`, `.*-prod` or `db-.*`.
    Span(Box<Span>),
    /// Anything else: run the regex (after the length, prefix and suffix tests).
    General,
}

/// The pattern `prefix class{min,max} suffix`.
#[derive(Debug, Clone)]
struct Span {
    prefix: Box<str>,
    /// Sorted, non-overlapping inclusive ranges, as the syntax tree keeps them.
    class: Box<[(char, char)]>,
    min: usize,
    max: Option<usize>,
    suffix: Box<str>,
}

impl Span {
    #[inline]
    fn matches(&self, v: &str) -> bool {
        let Some(middle) = strip_affixes(v, &self.prefix, &self.suffix) else {
            return false;
        };
        let mut count = 0usize;
        for c in middle.chars() {
            if !class_contains(&self.class, c) {
                return false;
            }
            count += 1;
        }
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }
}

/// `v` without `prefix` and `suffix`, if it has both (without overlap).
#[inline]
fn strip_affixes<'v>(v: &'v str, prefix: &str, suffix: &str) -> Option<&'v str> {
    let end = v.len().checked_sub(suffix.len())?;
    if end < prefix.len() {
        return None;
    }
    // `get` fails only off a character boundary, where `v` cannot have the affix anyway.
    if !text_eq(v.get(..prefix.len())?, prefix) || !text_eq(v.get(end..)?, suffix) {
        return None;
    }
    v.get(prefix.len()..end)
}

#[inline]
fn class_contains(class: &[(char, char)], c: char) -> bool {
    class
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                Ordering::Less
            } else if lo > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

impl AnchoredRegex {
    /// `regex` is `^(?:translated)$`; `translated` is analysed with the same parser settings
    /// `Regex::new` uses. If the analysis fails (it cannot, the regex compiled), every value
    /// goes to the regex.
    fn new(regex: Regex, translated: &str) -> Self {
        let general = AnchoredRegex {
            regex,
            shape: Shape::General,
            min_len: 0,
            max_len: None,
            prefixes: Box::default(),
            suffixes: Box::default(),
        };
        let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(translated) else {
            return general;
        };
        let props = hir.properties();
        let Some(min_len) = props.minimum_len() else {
            // The pattern matches nothing at all; leave it to the regex.
            return general;
        };
        let shape = shape_of(&hir);
        AnchoredRegex {
            shape,
            min_len,
            max_len: props.maximum_len(),
            prefixes: affixes(&hir, ExtractKind::Prefix),
            suffixes: affixes(&hir, ExtractKind::Suffix),
            ..general
        }
    }

    /// Whether the whole of `v` matches the pattern (`^(?:pattern)$`).
    #[inline]
    fn is_full_match(&self, v: &str) -> bool {
        match &self.shape {
            Shape::Literals(set) if set.len() <= SCAN_LITERALS => set.iter().any(|s| text_eq(s, v)),
            Shape::Literals(set) => set.binary_search_by(|s| (**s).cmp(v)).is_ok(),
            Shape::Span(span) => span.matches(v),
            Shape::General => {
                v.len() >= self.min_len
                    && self.max_len.is_none_or(|max| v.len() <= max)
                    && (self.prefixes.is_empty()
                        || self.prefixes.iter().any(|p| v.starts_with(&**p)))
                    && (self.suffixes.is_empty() || self.suffixes.iter().any(|s| v.ends_with(&**s)))
                    && self.regex.is_match(v)
            }
        }
    }
}

/// The exact language of `hir` if it is a small finite set or a [`Span`].
fn shape_of(hir: &Hir) -> Shape {
    // A finite sequence of exact literals is the whole language, provided there are no
    // look-around assertions (the extractor treats those as always true).
    if hir.properties().look_set().is_empty() {
        let seq = Extractor::new().extract(hir);
        if let Some(lits) = seq.literals() {
            if lits.iter().all(|l| l.is_exact()) {
                let strings: Option<Vec<Box<str>>> = lits
                    .iter()
                    .map(|l| std::str::from_utf8(l.as_bytes()).ok().map(Box::from))
                    .collect();
                if let Some(mut strings) = strings {
                    strings.sort_unstable();
                    strings.dedup();
                    return Shape::Literals(strings.into_boxed_slice());
                }
            }
        }
    }
    span_of(hir).map_or(Shape::General, |s| Shape::Span(Box::new(s)))
}

/// Recognises `literal* class{min,max} literal*` (capture groups looked through).
fn span_of(hir: &Hir) -> Option<Span> {
    let parts: &[Hir] = match hir.kind() {
        HirKind::Concat(parts) => parts,
        _ => std::slice::from_ref(hir),
    };
    let mut parts = parts.iter().map(without_captures).peekable();
    // The literals up to the next non-literal, concatenated.
    let literals = |parts: &mut std::iter::Peekable<_>| -> Option<Box<str>> {
        let mut text = String::new();
        while let Some(HirKind::Literal(lit)) = parts.peek().map(|h: &&Hir| h.kind()) {
            text.push_str(std::str::from_utf8(&lit.0).ok()?);
            parts.next();
        }
        Some(text.into_boxed_str())
    };
    let prefix = literals(&mut parts)?;
    let HirKind::Repetition(rep) = parts.next()?.kind() else {
        return None;
    };
    let HirKind::Class(Class::Unicode(class)) = without_captures(&rep.sub).kind() else {
        return None;
    };
    let suffix = literals(&mut parts)?;
    if parts.next().is_some() {
        return None;
    }
    Some(Span {
        prefix,
        class: class
            .ranges()
            .iter()
            .map(|r| (r.start(), r.end()))
            .collect(),
        min: usize::try_from(rep.min).ok()?,
        max: match rep.max {
            Some(max) => Some(usize::try_from(max).ok()?),
            None => None,
        },
        suffix,
    })
}

fn without_captures(mut hir: &Hir) -> &Hir {
    while let HirKind::Capture(cap) = hir.kind() {
        hir = &cap.sub;
    }
    hir
}

/// The literals every match starts (or ends) with, if there are few and none is empty.
/// Look-around assertions only make the extracted set larger, so the test stays a necessary
/// condition with them.
fn affixes(hir: &Hir, kind: ExtractKind) -> Box<[Box<str>]> {
    let suffix = matches!(kind, ExtractKind::Suffix);
    let mut extractor = Extractor::new();
    extractor.kind(kind);
    let seq = extractor.extract(hir);
    let Some(lits) = seq.literals() else {
        return Box::default();
    };
    let common = if suffix {
        seq.longest_common_suffix()
    } else {
        seq.longest_common_prefix()
    };
    let chosen: Vec<&[u8]> = if lits.len() <= MAX_AFFIXES {
        lits.iter().map(|l| l.as_bytes()).collect()
    } else {
        common.into_iter().collect()
    };
    if chosen.is_empty() || chosen.iter().any(|b| b.is_empty()) {
        return Box::default();
    }
    // A literal cut inside a character is not valid UTF-8; then skip the test.
    chosen
        .iter()
        .map(|b| std::str::from_utf8(b).ok().map(Box::from))
        .collect::<Option<Vec<_>>>()
        .map(Vec::into_boxed_slice)
        .unwrap_or_default()
}

/// Rewrites the Perl classes `\d \D \w \W \s \S` and the boundaries `\b \B` to their ASCII
/// forms (Go's meaning), leaving every other escape alone. Inside a bracket class the classes
/// become nested classes, which the `regex` crate supports.
fn go_perl_classes_to_ascii(pattern: &str) -> String {
    const DIGIT: &str = "[0-9]";
    const NOT_DIGIT: &str = "[^0-9]";
    const WORD: &str = "[0-9A-Za-z_]";
    const NOT_WORD: &str = "[^0-9A-Za-z_]";
    const SPACE: &str = "[\\t\\n\\f\\r ]";
    const NOT_SPACE: &str = "[^\\t\\n\\f\\r ]";

    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut class_depth = 0usize;
    // True right after `[` or `[^` opened a class, where `]` is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let replacement = match next {
                    'd' => Some(DIGIT),
                    'D' => Some(NOT_DIGIT),
                    'w' => Some(WORD),
                    'W' => Some(NOT_WORD),
                    's' => Some(SPACE),
                    'S' => Some(NOT_SPACE),
                    'b' if class_depth == 0 => Some("(?-u:\\b)"),
                    'B' if class_depth == 0 => Some("(?-u:\\B)"),
                    _ => None,
                };
                match replacement {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' => {
                if class_depth > 0 && chars.peek() == Some(&':') {
                    // A POSIX class like `[:alpha:]`: copy through its closing `:]`.
                    out.push('[');
                    let mut prev = '[';
                    for d in chars.by_ref() {
                        out.push(d);
                        if prev == ':' && d == ']' {
                            break;
                        }
                        prev = d;
                    }
                    class_start = false;
                    continue;
                }
                class_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                class_start = true;
                continue;
            }
            ']' if class_depth > 0 && !class_start => {
                class_depth -= 1;
                out.push(']');
            }
            other => out.push(other),
        }
        class_start = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels_from;

    fn one(s: &str) -> Matcher {
        let ms = parse_matchers(s).unwrap();
        assert_eq!(ms.len(), 1, "{s}");
        ms.into_iter().next().unwrap()
    }

    #[test]
    fn operators_and_missing_labels() {
        let l = labels_from([("severity", "page"), ("team", "db")]);
        assert!(one("severity=page").matches(&l));
        assert!(!one("severity!=page").matches(&l));
        assert!(one("team=~\"db|infra\"").matches(&l));
        assert!(!one("team!~\"db|infra\"").matches(&l));
        // Missing label = "" (Alertmanager).
        assert!(one("env!=prod").matches(&l));
        assert!(one("env=\"\"").matches(&l));
        assert!(one("env=~\".*\"").matches(&l));
        assert!(!one("env=~\".+\"").matches(&l));
        assert!(one("env!~\".+\"").matches(&l));
    }

    #[test]
    fn regexes_are_fully_anchored() {
        let m = one("service=~api");
        assert!(m.matches_value("api"));
        assert!(!m.matches_value("api-gateway"));
        assert!(!m.matches_value("my-api"));
        // The alternation is grouped before anchoring: `^(?:a|b)$`, not `^a|b$`.
        let m = one("x=~\"a|bc\"");
        assert!(m.matches_value("a"));
        assert!(m.matches_value("bc"));
        assert!(!m.matches_value("abc"));
        assert!(!m.matches_value("ax"));
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        let m = Matcher::new(MatchType::Regex, "x", r"\d+").unwrap();
        assert!(m.matches_value("123"));
        assert!(!m.matches_value("١٢٣")); // Arabic-Indic digits: not \d in Go.
        let m = Matcher::new(MatchType::Regex, "x", r"\w+").unwrap();
        assert!(m.matches_value("ab_9"));
        assert!(!m.matches_value("é"));
        let m = Matcher::new(MatchType::Regex, "x", r"[\d\s]+").unwrap();
        assert!(m.matches_value("1 2\t3"));
        let m = Matcher::new(MatchType::Regex, "x", r"[^\d]+").unwrap();
        assert!(m.matches_value("ab"));
        assert!(!m.matches_value("a1"));
        let m = Matcher::new(MatchType::Regex, "x", r"a\b.*").unwrap();
        assert!(m.matches_value("a b"));
        assert!(!m.matches_value("ab"));
        // An escaped backslash followed by `d` is a literal `\d`.
        let m = Matcher::new(MatchType::Regex, "x", r"\\d").unwrap();
        assert!(m.matches_value(r"\d"));
        // POSIX classes pass through untouched.
        let m = Matcher::new(MatchType::Regex, "x", r"[[:alpha:]\d]+").unwrap();
        assert!(m.matches_value("a1"));
        // A `]` right after `[` is literal.
        let m = Matcher::new(MatchType::Regex, "x", r"[]\d]+").unwrap();
        assert!(m.matches_value("]1"));
    }

    #[test]
    fn parse_list_forms() {
        // Examples from Alertmanager's ParseMatchers documentation.
        let ms = parse_matchers("{foo = \"bar\", dings != \"bums\", }").unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(
            (ms[0].name(), ms[0].match_type(), ms[0].value()),
            ("foo", MatchType::Equal, "bar")
        );
        assert_eq!(
            (ms[1].name(), ms[1].match_type(), ms[1].value()),
            ("dings", MatchType::NotEqual, "bums")
        );
        assert_eq!(parse_matchers("foo=bar,dings!=bums").unwrap(), ms);
        assert_eq!(parse_matchers("foo=bar, dings!=bums").unwrap(), ms);
        let q = one(r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#);
        assert_eq!(
            q.value(),
            "She said: \"Hi, ladies! That's gender-neutral…\""
        );
        let s = one("statuscode=~\"5..\"");
        assert!(s.matches_value("503"));
        assert!(parse_matchers("").unwrap().is_empty());
        assert!(parse_matchers("{}").unwrap().is_empty());
    }

    #[test]
    fn parse_values() {
        assert_eq!(one("foo=bar baz").value(), "bar baz");
        assert_eq!(one("  foo  =~  bar  ").value(), "bar");
        assert_eq!(one("foo=").value(), "");
        assert_eq!(one("foo=\"\"").value(), "");
        assert_eq!(one(r#"foo="a\nb""#).value(), "a\nb");
        assert_eq!(one(r#"foo="a\\b""#).value(), "a\\b");
        // A spurious escape keeps the backslash; a trailing one is literal.
        assert_eq!(one(r#"foo="a\qb""#).value(), "a\\qb");
        assert_eq!(one(r"foo=a\").value(), "a\\");
        // Unquoted values may contain `=`, `{`, spaces.
        assert_eq!(one("foo=a=b").value(), "a=b");
        assert_eq!(one("foo:bar=x").name(), "foo:bar");
        assert_eq!(one("_x=1").name(), "_x");
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "foo",
            "=bar",
            "1foo=bar",
            "foo==bar\"",
            "foo=\"bar",
            "foo=bar\"",
            "foo=\"b\"ar\"",
            "a=b,,c=d",
            "foo~=bar",
            "fo-o=bar",
        ] {
            assert!(
                matches!(parse_matchers(bad), Err(MatcherError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_matchers("foo=~\"(\""),
            Err(MatcherError::Regex(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for v in [
            "plain",
            "with \"quotes\"",
            "back\\slash",
            "new\nline",
            "",
            "a,b",
            "{x}",
        ] {
            for t in [MatchType::Equal, MatchType::NotEqual] {
                let m = Matcher::new(t, "lbl", v).unwrap();
                assert_eq!(one(&m.to_string()), m, "{m}");
            }
        }
        let ms = Matchers::new(vec![
            Matcher::new(MatchType::Equal, "b", "2").unwrap(),
            Matcher::new(MatchType::Regex, "a", "x|y").unwrap(),
        ]);
        assert_eq!(ms.to_string(), r#"{a=~"x|y",b="2"}"#);
    }

    #[test]
    fn matchers_sort_like_alertmanager() {
        let ms = Matchers::new(parse_matchers("b=1, a!=2, a=2, a=1").unwrap());
        let order: Vec<String> = ms.as_slice().iter().map(ToString::to_string).collect();
        assert_eq!(order, ["a=\"1\"", "a=\"2\"", "a!=\"2\"", "b=\"1\""]);
    }

    fn shape(pattern: &str) -> &'static str {
        match compile_anchored(pattern).unwrap().shape {
            Shape::Literals(_) => "literals",
            Shape::Span(_) => "span",
            Shape::General => "general",
        }
    }

    #[test]
    fn common_patterns_skip_the_regex_engine() {
        assert_eq!(shape("critical|page"), "literals");
        assert_eq!(shape("svc[0-3]"), "literals");
        assert_eq!(shape(""), "literals");
        assert_eq!(shape("svc3-[a-z]+"), "span");
        assert_eq!(shape(".*-prod"), "span");
        assert_eq!(shape("(db)-.*(-eu)"), "span");
        assert_eq!(shape(r"\d{2,4}"), "span");
        assert_eq!(shape(r"a\b.*"), "general");
        assert_eq!(shape("(a|b)+c"), "span");
        assert_eq!(shape("(ab|c)+d"), "general");
        let r = compile_anchored("(api|db)-.*").unwrap();
        assert_eq!(&*r.prefixes, ["api-".into(), "db-".into()] as [Box<str>; 2]);
    }

    /// Patterns covering every shortcut: literal sets (also case-folded and with empty
    /// alternatives), spans (with and without affixes, bounded, Unicode classes, `.`), and
    /// general regexes with and without look-around, prefixes and suffixes.
    const PATTERNS: &[&str] = &[
        "critical|page",
        "a|",
        "a|ab|abc",
        "(?i)pAge",
        "svc[0-3]",
        "x{2}y?",
        "",
        "svc3-[a-z]+",
        ".*",
        ".+",
        ".*-prod",
        "db-.*",
        "(db)-.*(-eu)",
        "ab[b]*b",
        r"\d{2,4}",
        r"\w+",
        "[^a]*",
        "é.?ü",
        r"\pL+x",
        "[α-ω]{1,2}",
        "(?i)é+",
        r"a\b.*",
        r"\bb",
        "(a|b)+c",
        "(ab|c)+d",
        "(api|db)-.*",
        "a.*b.*c",
        "^ab$",
        "(?m)^a$",
        "(?s).*",
        "x*?y",
        "[a-c]+[b-d]+",
    ];

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn shortcuts_agree_with_the_regex_engine(
                pattern in prop::sample::select(PATTERNS),
                v in "[abcdxy\\-éüα\n1-3A-C]{0,7}(prod|eu|db|api|page|critical|svc3)?[a-c\\-]{0,2}",
            ) {
                let re = compile_anchored(pattern).unwrap();
                let plain = Regex::new(&format!("^(?:{})$", go_perl_classes_to_ascii(pattern))).unwrap();
                prop_assert_eq!(re.is_full_match(&v), plain.is_match(&v), "{} on {:?}", pattern, v);
                for cut in 0..=v.len() {
                    if let (Some(head), Some(tail)) = (v.get(..cut), v.get(cut..)) {
                        prop_assert_eq!(re.is_full_match(head), plain.is_match(head), "{} on {:?}", pattern, head);
                        prop_assert_eq!(re.is_full_match(tail), plain.is_match(tail), "{} on {:?}", pattern, tail);
                    }
                }
            }

            #[test]
            fn text_eq_is_string_equality(a in "[ab]{0,20}", b in "[ab]{0,20}") {
                prop_assert_eq!(crate::model::text_eq(&a, &b), a == b);
            }

            #[test]
            fn printed_matcher_parses_back(
                name in "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
                value in "\\PC{0,12}",
                t in prop_oneof![Just(MatchType::Equal), Just(MatchType::NotEqual)],
            ) {
                let m = Matcher::new(t, name, value).unwrap();
                let back = parse_matchers(&m.to_string()).unwrap();
                prop_assert_eq!(back, vec![m]);
            }

            #[test]
            fn parser_never_panics(s in "\\PC{0,40}") {
                let _ = parse_matchers(&s);
            }

            #[test]
            fn regex_is_anchored(lit in "[a-z]{1,6}", extra in "[a-z]{1,3}") {
                let m = Matcher::new(MatchType::Regex, "x", lit.clone()).unwrap();
                prop_assert!(m.matches_value(&lit));
                let longer = format!("{lit}{extra}");
                prop_assert!(!m.matches_value(&longer));
                let prefixed = format!("{extra}{lit}");
                prop_assert!(!m.matches_value(&prefixed));
            }
        }
    }
}
