//! An event-driven builder of [`Node`] trees for the common subset of YAML.
//!
//! It must agree exactly with [`super::parse_via_serde`] whenever it returns `Some`: it drives the same
//! parser with the same options as serde-saphyr does, takes locations from the same spans, and
//! resolves plain scalars the same way serde-saphyr resolves them under our [`super::options`]. Whenever
//! it is not sure, it returns `None`.

use super::{Key, Loc, Node, Value};
use serde_saphyr::granit_parser::{self, Event, Parser, ScalarStyle, Span, StrInput};

// Kept strictly below serde-saphyr's budgets (see `options()`), so that an input near a
// limit goes to the serde path, which reports the breach.
const MAX_DEPTH: usize = 60;
const MAX_NODES: usize = 1_900_000;
const MAX_EVENTS: usize = 900_000;
const MAX_SCALAR_BYTES: usize = 60 * 1024 * 1024;

/// The parser options serde-saphyr derives from our [`super::options`] (default budget
/// fields except `max_depth`, comments emitted, non-strict indentation).
fn parser_options() -> granit_parser::Options {
    let block_nesting_limit = granit_parser::Options::default()
        .block_nesting_limit
        .max(64 + 1);
    granit_parser::options! {
        simple_key_max_lookahead: 1024,
        flow_nesting_limit: 255,
        block_nesting_limit: block_nesting_limit,
        emit_comments: true,
        max_buffered_comment_events: 32,
        strict_indentation: false,
        bom_inside_document_as_content: false,
    }
}

fn loc(span: &Span) -> Loc {
    let (start, end) = (&span.start, &span.end);
    let (offset, len) = match (start.byte_offset(), end.byte_offset()) {
        (Some(s), Some(e)) => {
            let l = e.saturating_sub(s);
            if s <= u32::MAX as usize && l <= u32::MAX as usize {
                (s, l)
            } else {
                (0, 0)
            }
        }
        _ => (0, 0),
    };
    Loc {
        line: u32::try_from(start.line()).unwrap_or(u32::MAX),
        column: u32::try_from(start.col().saturating_add(1)).unwrap_or(u32::MAX),
        offset,
        len,
    }
}

/// Every character an integer can have for serde-saphyr: digits, signs, radix prefixes,
/// hex digits and `_`.
fn int_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b"+-_xXoObB".contains(&b)
}

/// A plain scalar that serde-saphyr certainly reads as a string (not as null, a boolean,
/// an integer or a float).
fn plain_is_string(v: &str) -> bool {
    let bytes = v.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if b" \t\r\n".contains(first) || b" \t\r\n".contains(last) {
        return false;
    }
    if matches!(
        v,
        "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    ) {
        return false;
    }
    if !b"0123456789+-.~".contains(first) {
        // Numbers start with a digit, a sign or a dot (Rust's alphabetic `inf`/`nan`
        // spellings are not finite, which serde-saphyr keeps as strings).
        return true;
    }
    // A sign followed by what no number has next (`--context`, `-n`): the common case of
    // an argv, decided without trying to parse it.
    if b"+-".contains(first)
        && bytes
            .get(1)
            .is_some_and(|b| !b"0123456789._iInN".contains(b))
    {
        return true;
    }
    // Not a float (neither Rust's syntax nor YAML's `.inf`/`.nan`) and not an integer.
    v.parse::<f64>().is_err()
        && !v.contains(".inf")
        && !v.contains(".Inf")
        && !v.contains(".INF")
        && !v.contains(".nan")
        && !v.contains(".NaN")
        && !v.contains(".NAN")
        && bytes.iter().any(|&b| !int_char(b))
}

/// Resolves a plain scalar as serde-saphyr's `deserialize_any` does with
/// `strict_booleans`, for the spellings we are sure of; `None` for the others.
fn resolve_plain(v: &str) -> Option<Value> {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if plain_is_string(v) {
        return Some(Value::Str(v.to_string()));
    }
    // Decimal integers and floats without sign tricks, leading zeros or exponents.
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if int.is_empty()
        || int.len() > 18
        || !int.bytes().all(|b| b.is_ascii_digit())
        || (int.starts_with('0') && (int.len() > 1 || (neg && frac.is_none())))
    {
        return None;
    }
    match frac {
        None => v.parse::<i64>().ok().map(Value::Int),
        Some(f) if !f.is_empty() && f.len() <= 17 && f.bytes().all(|b| b.is_ascii_digit()) => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::Float),
        Some(_) => None,
    }
}

enum Frame {
    Seq(Loc, Vec<Node>),
    Map(Loc, Vec<(Key, Node)>, Option<Key>),
}

/// Adds a finished node to its parent; `false` if that is not possible here.
fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) -> bool {
    match stack.last_mut() {
        None => {
            if root.is_some() {
                return false;
            }
            *root = Some(node);
            true
        }
        Some(Frame::Seq(_, items)) => {
            items.push(node);
            true
        }
        Some(Frame::Map(_, entries, pending)) => match pending.take() {
            Some(key) => {
                entries.push((key, node));
                true
            }
            // A collection as a key.
            None => false,
        },
    }
}

fn duplicate(entries: &[(Key, Node)], name: &str) -> bool {
    entries.iter().any(|(k, _)| k.name == name)
}

/// The parser alone, with the options [`parse`] uses, building nothing: how many events the
/// text has, or None on a syntax error. The floor of loading a workflow (validate_plan bench).
pub(super) fn count_events(text: &str) -> Option<usize> {
    let parser = Parser::with_options(StrInput::new(text), parser_options());
    let mut n = 0;
    for item in parser {
        std::hint::black_box(item.ok()?);
        n += 1;
    }
    Some(n)
}

pub(super) fn parse(text: &str) -> Option<Node> {
    build(text, false)?.root
}

/// Every document of a `---`-separated stream, empty ones left out; `None` as for [`parse`].
/// Agrees with serde-saphyr's `from_str_multiple` (with [`super::options`]) read into JSON.
pub(super) fn parse_documents(text: &str) -> Option<Vec<Node>> {
    let mut b = build(text, true)?;
    b.docs.extend(b.root.take());
    Some(b.docs)
}

fn build(text: &str, multi: bool) -> Option<Builder> {
    let parser = Parser::with_options(StrInput::new(text), parser_options());
    let mut b = Builder {
        multi,
        ..Builder::default()
    };
    for item in parser {
        let (event, span) = item.ok()?;
        b.events += 1;
        if b.events > MAX_EVENTS {
            return None;
        }
        b.event(event, &span)?;
    }
    if !b.stack.is_empty() {
        return None;
    }
    Some(b)
}

/// The tree being built, and the budget spent so far.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    events: usize,
    nodes: usize,
    bytes: usize,
    documents: usize,
    /// A stream of documents ([`parse_documents`]): each finished root goes to `docs`.
    multi: bool,
    docs: Vec<Node>,
}

impl Builder {
    /// Takes one parser event; `None` gives up (the serde path decides).
    #[inline]
    fn event(&mut self, event: Event<'_>, span: &Span) -> Option<()> {
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentEnd => {
                if self.multi {
                    self.docs.extend(self.root.take());
                }
            }
            Event::Comment(..) => {}
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 && !self.multi {
                    return None;
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                self.scalar(value, matches!(style, ScalarStyle::Plain), span)?;
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                if matches!(self.stack.last(), Some(Frame::Map(_, _, None))) {
                    return None; // a collection as a mapping key
                }
                self.nodes += 1;
                if self.nodes > MAX_NODES || self.stack.len() + 1 > MAX_DEPTH {
                    return None;
                }
                let l = loc(span);
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq(l, Vec::new())
                    } else {
                        Frame::Map(l, Vec::new(), None)
                    });
            }
            Event::SequenceEnd => {
                let Some(Frame::Seq(l, items)) = self.stack.pop() else {
                    return None;
                };
                self.attach(Node {
                    value: Value::Seq(items),
                    loc: l,
                })?;
            }
            Event::MappingEnd => {
                let Some(Frame::Map(l, entries, None)) = self.stack.pop() else {
                    return None;
                };
                self.attach(Node {
                    value: Value::Map(entries),
                    loc: l,
                })?;
            }
            _ => return None,
        }
        Some(())
    }

    /// A scalar: a mapping's key, or a value.
    #[inline]
    fn scalar(&mut self, value: std::borrow::Cow<'_, str>, plain: bool, span: &Span) -> Option<()> {
        self.nodes += 1;
        self.bytes = self.bytes.saturating_add(value.len());
        if self.nodes > MAX_NODES || self.bytes > MAX_SCALAR_BYTES {
            return None;
        }
        if let Some(Frame::Map(_, entries, pending @ None)) = self.stack.last_mut() {
            if plain && !plain_is_string(&value) {
                return None;
            }
            if value == "<<" || duplicate(entries, &value) {
                return None;
            }
            *pending = Some(Key {
                name: value.into_owned(),
                loc: loc(span),
            });
            return Some(());
        }
        let value = if plain {
            resolve_plain(&value)?
        } else {
            Value::Str(value.into_owned())
        };
        self.attach(Node {
            value,
            loc: loc(span),
        })
    }

    fn attach(&mut self, node: Node) -> Option<()> {
        attach(&mut self.stack, &mut self.root, node).then_some(())
    }
}
