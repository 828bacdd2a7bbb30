//! All YAML handling of mcflow lives here.
//!
//! We parse with serde-saphyr (the parser kube 5 itself uses for kubeconfigs; serde_yaml is
//! deprecated upstream). Documents are read into a [`Node`] tree that keeps the line, column and
//! byte span of every value and every mapping key, so that later stages (validate, plan) can point
//! a diagnostic at the exact place of a *semantic* problem, not only at syntax errors. Typed
//! structures are read straight from that tree (`node_de`); one that fails is read again with
//! [`Node::to_json`] + `serde_path_to_error`, and the failing path is mapped back to the node it
//! names with [`Node::lookup`].

use std::fmt;

mod fast;
mod node_de;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a value sits in its source text: 1-based line and column, and its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
    pub offset: usize,
    pub len: usize,
}

impl Loc {
    fn from_saphyr(location: &serde_saphyr::Location) -> Loc {
        let span = location.span();
        Loc {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            column: u32::try_from(location.column()).unwrap_or(u32::MAX),
            offset: span
                .byte_offset()
                .and_then(|o| usize::try_from(o).ok())
                .unwrap_or(0),
            len: span
                .byte_len()
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(0),
        }
    }
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

/// A YAML value with the location it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

/// The shape of a YAML value. Mappings keep their source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// One segment of a path into a [`Node`] tree, as `serde_path_to_error` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl Node {
    /// The mapping entry `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, node)| node)
    }

    /// The mapping entry `key` with its key, if this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The string, if this node is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Follows `path` as far as it goes and returns the deepest node reached.
    pub fn lookup(&self, path: &[PathSeg]) -> &Node {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.value) {
                (PathSeg::Key(k), Value::Map(_)) => node.get(k),
                (PathSeg::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// Converts to JSON, the form typed structures are deserialized from.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Calls `f` on every string in the tree, with its node.
    pub fn visit_strings<'a>(&'a self, f: &mut impl FnMut(&'a Node, &'a str)) {
        match &self.value {
            Value::Str(s) => f(self, s),
            Value::Seq(items) => items.iter().for_each(|n| n.visit_strings(f)),
            Value::Map(entries) => entries.iter().for_each(|(_, n)| n.visit_strings(f)),
            _ => {}
        }
    }
}

/// A YAML syntax error (or a document that is not valid YAML at all), with its location.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub loc: Option<Loc>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Budget limits so that a hostile file cannot make the parser use unbounded memory.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // YAML 1.2 core booleans only: `y`, `no` and `on` stay strings (the Norway problem).
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 2_000_000,
            max_total_scalar_bytes: 64 * 1024 * 1024,
        },
    }
}

/// Parses one YAML document into a located tree. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            loc: Loc {
                line: 1,
                column: 1,
                offset: 0,
                len: 0,
            },
        });
    }
    // Fast path: build the tree straight from the parser's events. It handles the common subset
    // (no tags, anchors, aliases, merge keys, duplicate keys or ambiguous plain scalars) and gives
    // up on anything else, including every error, in which case the serde path below produces
    // the exact same result (value, locations or error) as it always has.
    if let Some(node) = fast::parse(text) {
        return Ok(node);
    }
    parse_via_serde(text)
}

/// Runs the YAML parser over `text` without building anything and returns its event count (None
/// on a syntax error): the floor that docs/PERFORMANCE.md compares validate + plan with.
#[doc(hidden)]
pub fn bare_parse(text: &str) -> Option<usize> {
    fast::count_events(text)
}

/// The reference implementation: serde-saphyr's `Spanned<T>` deserialization.
fn parse_via_serde(text: &str) -> Result<Node, SyntaxError> {
    serde_saphyr::from_str_with_options::<Node>(text, options()).map_err(|e| syntax_error(&e))
}

fn syntax_error(e: &serde_saphyr::Error) -> SyntaxError {
    let loc = e.location().map(|l| Loc::from_saphyr(&l));
    // The crate's Display includes a rendered snippet; we want the bare message, since our own
    // diagnostic renders the snippet.
    let message = e.without_snippet().to_string();
    let message = message.lines().next().unwrap_or("invalid YAML").to_string();
    SyntaxError { message, loc }
}

/// Parses text holding one or more `---`-separated documents into JSON values (empty documents
/// are skipped). Used for Kubernetes manifests and values files, which need no locations.
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>, SyntaxError> {
    // The fast path of [`parse`], document by document (the redactor reads every sensitive
    // output this way: a link manifest per spoke); anything it is unsure of goes to serde-saphyr.
    if let Some(docs) = fast::parse_documents(text) {
        return Ok(docs
            .iter()
            .map(Node::to_json)
            .filter(|d| !d.is_null())
            .collect());
    }
    parse_documents_via_serde(text)
}

/// [`parse_documents`] through serde-saphyr alone (the reference).
fn parse_documents_via_serde(text: &str) -> Result<Vec<serde_json::Value>, SyntaxError> {
    let docs: Vec<Option<serde_json::Value>> =
        serde_saphyr::from_str_multiple_with_options(text, options())
            .map_err(|e| syntax_error(&e))?;
    Ok(docs
        .into_iter()
        .flatten()
        .filter(|d| !d.is_null())
        .collect())
}

/// Parses one document straight into a typed value, for files that need no located diagnostics.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, SyntaxError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| syntax_error(&e))
}

/// Serializes a value as YAML (used by `mcflow plan` and for rendering manifests).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| e.to_string())
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            loc: Loc::from_saphyr(&spanned.referenced),
        })
    }
}

/// A key is a scalar: we keep its text, whatever its YAML type (`1: x`, `true: y`).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Value::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
                    let value = map.next_value::<Node>()?;
                    entries.push((
                        Key {
                            name: key.value.0,
                            loc: Loc::from_saphyr(&key.referenced),
                        },
                        value,
                    ));
                }
                Ok(Value::Map(entries))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_locations_of_keys_and_values() {
        let text = "name: x\nsteps:\n  - id: a\n    run: [echo, hi]\n";
        let node = parse(text).unwrap();
        let steps = node.get("steps").unwrap();
        let Value::Seq(items) = &steps.value else {
            panic!("not a seq")
        };
        let (key, value) = items[0].entry("run").unwrap();
        assert_eq!((key.loc.line, key.loc.column), (4, 5));
        assert_eq!(value.loc.line, 4);
        let id = items[0].get("id").unwrap();
        assert_eq!((id.loc.line, id.loc.column), (3, 9));
        assert_eq!(&text[id.loc.offset..id.loc.offset + id.loc.len], "a");
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.loc.is_some(), "{err:?}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.to_lowercase().contains("duplicate"), "{err:?}");
    }

    #[test]
    fn lookup_follows_paths() {
        let node = parse("a:\n  b: [x, y]\n").unwrap();
        let found = node.lookup(&[
            PathSeg::Key("a".into()),
            PathSeg::Key("b".into()),
            PathSeg::Index(1),
        ]);
        assert_eq!(found.as_str(), Some("y"));
    }

    /// The old implementation of [`parse`]: the serde path only.
    fn parse_old(text: &str) -> Result<Node, SyntaxError> {
        if text.trim().is_empty() {
            return parse(text);
        }
        parse_via_serde(text)
    }

    /// Asserts that [`parse`] agrees with the old implementation on `text`; returns whether the
    /// fast path handled it.
    fn assert_equivalent(text: &str) -> bool {
        let fast = fast::parse(text);
        let new = parse(text);
        let old = parse_old(text);
        match (&new, &old) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "trees differ for {text:?}"),
            (Err(a), Err(b)) => {
                assert_eq!(a.message, b.message, "messages differ for {text:?}");
                assert_eq!(a.loc, b.loc, "error locations differ for {text:?}");
            }
            _ => panic!("outcomes differ for {text:?}: new {new:?}, old {old:?}"),
        }
        if let Some(node) = &fast {
            assert_eq!(
                Some(node),
                old.as_ref().ok(),
                "fast path differs for {text:?}"
            );
        }
        fast.is_some()
    }

    fn corpus() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["tests/invalid", "workflows", "config", "sim/fixtures"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "yaml")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files.sort();
        files
    }

    const TRICKY: &[&str] = &[
        "",
        "   \n",
        "# only a comment\n",
        "---\n",
        "--- \n...\n",
        "a: 1\n---\nb: 2\n",
        "a:\n",
        "a: ~\nb: null\nc: Null\nd: NULL\ne:\n",
        "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: true\nh: False\ni: TRUE\n",
        "a: 1\nb: -1\nc: 0\nd: -0\ne: 007\nf: 0x1F\ng: 0o17\nh: 0b101\ni: +5\nj: 1_000\n",
        "a: 1.5\nb: -0.5\nc: 1e3\nd: .5\ne: 1.\nf: .inf\ng: -.inf\nh: .nan\ni: -.nan\n",
        "a: 9223372036854775807\nb: 9223372036854775808\nc: -9223372036854775808\n",
        "a: 99999999999999999999999\nb: 1e999\nc: 0X1F\nd: inf\ne: nan\nf: Infinity\n",
        "a: '1'\nb: \"true\"\nc: 'null'\nd: \"\"\ne: ''\n",
        "a: !!str 1\nb: !!int '2'\nc: !custom x\nd: !!float 1\ne: !!null ''\nf: !!bool true\n",
        "a: !!binary aGVsbG8=\n",
        "a: &x 1\nb: *x\n",
        "a: &x {p: 1, q: [2, 3]}\nb: *x\nc: *x\n",
        "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n",
        "derived:\n  <<: [{x: 1}, {z: 2}]\n  y: 3\n",
        "a: 1\na: 2\n",
        "a: 1\n'a': 2\n",
        "a: x\n: y\n",
        "~: x\n",
        "[~, '~', x~, ~x]\n",
        "1: x\n01: y\n",
        "1: x\ntrue: y\nnull: z\n1.5: w\n~: v\n",
        "? [a, b]\n: c\n",
        "? {a: 1}\n: c\n",
        "? |\n  block key\n: v\n",
        "text: |\n  line one\n  line two\n",
        "text: >\n  folded\n  lines\n\n  para\n",
        "text: |-\n  keep\n",
        "text: |+\n  keep\n\n",
        "text: plain\n  continued\n  lines\n",
        "text: \"double\\n\\tquoted\"\n",
        "text: 'single ''quoted'''\n",
        "emoji🔑: [1, 2]\nü: é\n",
        "[1, 2, {a: b}]\n",
        "{a: 1, b: [x, y], c: {d: e}}\n",
        "- a\n- b:\n    c: d\n- - x\n  - y\n",
        "a: [1, 2\nb: c\n",
        "a: b: c\n",
        "a:\n  - b\n c: d\n",
        "\ta: 1\n",
        "a: \"unterminated\n",
        "a: *missing\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1 # comment\n# another\nb: 2\n",
        "\u{feff}a: 1\n",
        "a: -\nb: --\nc: .git\nd: +x\ne: ~x\nf: -foo\n",
        "[-n, --context, 500ms, 30s, 1.5.3, -rf, 1e5, 1E5, 1e, -1e-3, +1.5, 1_0, 0o8, 0xg, 1:2]\n",
        "[.5e3, 5., -.5, +.inf, -.Inf, .NAN, +.nan, 0x_1, 0X1, 1__0, _1, 1_, -0x10, -0o7]\n",
        "[12:30, 1.2.3, 2024-01-01, 0.1.0, v1.2, 3 apples, 1 # c, -1 day, 1,2]\n",
        "--context: 1\n-n: 2\n500ms: 3\n1e5: 4\n.5: 5\n",
        "a: 1 \nb: x\t\n",
        "key with spaces: value with spaces\n",
        "a: b # c\n  d\n",
        "<<: {a: 1}\n",
        "a: !!str\n",
        "a: !\n",
        "&a a: b\nc: *a\n",
        "just a scalar\n",
        "42\n",
        "a:\r\n  b: c\r\n",
        "a:\n  b:\n    c:\n      d: [[[[[[1]]]]]]\n",
    ];

    /// [`parse_documents`] agrees with serde-saphyr alone on every input; returns whether the
    /// fast path handled it.
    fn assert_documents_equivalent(text: &str) -> bool {
        let fast = fast::parse_documents(text);
        let new = parse_documents(text);
        let old = parse_documents_via_serde(text);
        match (&new, &old) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "documents differ for {text:?}"),
            (Err(a), Err(b)) => assert_eq!(a.message, b.message, "messages differ for {text:?}"),
            _ => panic!("outcomes differ for {text:?}: new {new:?}, old {old:?}"),
        }
        fast.is_some()
    }

    #[test]
    fn documents_fast_path_matches_serde() {
        let mut handled = 0;
        for text in TRICKY {
            assert_documents_equivalent(text);
        }
        // Streams: every tricky input after and before another, with the separators and
        // document ends a manifest has, and the repository's files two by two.
        for (i, a) in TRICKY.iter().enumerate() {
            let b = TRICKY[(i + 7) % TRICKY.len()];
            for sep in ["---\n", "\n---\n", "...\n---\n", "--- # c\n", "---\n---\n"] {
                assert_documents_equivalent(&format!("{a}{sep}{b}"));
                assert_documents_equivalent(&format!("---\n{a}{sep}{b}---\n"));
            }
        }
        let corpus = corpus();
        for (i, (_, a)) in corpus.iter().enumerate() {
            let (_, b) = &corpus[(i + 1) % corpus.len()];
            handled += usize::from(assert_documents_equivalent(&format!("{a}\n---\n{b}")));
        }
        let link = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-credentials-internal\n  namespace: linkerd-multicluster\ntype: mirror.linkerd.io/remote-kubeconfig\ndata:\n  kubeconfig: YXBpVmVyc2lvbjogdjEKa2luZDogQ29uZmlnCg==\n---\napiVersion: multicluster.linkerd.io/v1alpha3\nkind: Link\nmetadata:\n  name: internal\n  namespace: linkerd-multicluster\n  annotations:\n    multicluster.linkerd.io/created-by-version: edge-25.4.4\nspec:\n  targetClusterName: internal\n  gatewayAddress: 127.0.0.1\n  gatewayPort: \"4143\"\n  probeSpec:\n    port: \"4191\"\n    period: 3s\n  selector:\n    matchLabels:\n      mirror.linkerd.io/exported: \"true\"\n---\n";
        assert!(assert_documents_equivalent(link));
        assert!(handled > corpus.len() / 2, "{handled} of {}", corpus.len());
    }

    #[test]
    fn event_builder_matches_serde_on_tricky_inputs() {
        for text in TRICKY {
            assert_equivalent(text);
        }
        assert!(assert_equivalent(
            "name: x\nsteps:\n  - id: a\n    run: [echo, hi]\n"
        ));
        assert!(assert_equivalent("a: 1.5\nb: -2\nc: 'x'\nd: |\n  t\n"));
        assert!(assert_equivalent(
            "run: [kubectl, --context, \"{{ p }}\", -n, x]\ntimeout: 30s\nretry: { delay: 500ms }\n"
        ));
        // Signed scalars: the argv fast path and every number-like spelling beside it.
        for v in [
            "-n",
            "--",
            "-",
            "+",
            "+x",
            "-e5",
            "-E",
            "-_1",
            "+_1",
            "-1",
            "+1",
            "-0x1F",
            "-0o7",
            "-.5",
            "+.5",
            "-.inf",
            "+.inf",
            "-.Inf",
            "-inf",
            "-Infinity",
            "-nan",
            "-NaN",
            "+NAN",
            "-1_000",
            "-1e3",
            "-i",
            "-I",
            "-N",
            "-9x",
            "-.",
            "-:a",
        ] {
            let doc = format!("a: {v}\nb: [{v}, x]\n");
            assert_equivalent(&doc);
        }
        // The serde path needs a deep stack for this in debug builds.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
                assert!(!assert_equivalent(&deep));
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn event_builder_matches_serde_on_corpus() {
        let files = corpus();
        assert!(files.len() > 10, "corpus not found");
        for (path, text) in &files {
            let fast = assert_equivalent(text);
            if path.contains("/workflows/") {
                assert!(fast, "{path} did not take the fast path");
            }
        }
    }

    #[test]
    fn event_builder_matches_serde_on_mutations() {
        let files = corpus();
        let alphabet: &[&str] = &[
            " ", "\n", ":", "- ", "[", "]", "{", "}", ",", "'", "\"", "#", "&a ", "*a", "!!str ",
            "? ", "|", ">", "<<: ", "1", "0x1", "true", "~", "\t", "é", "---\n", "  ", "yes", ".5",
            "-", "null", "1.5", "-3",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (_, text) in &files {
            for _ in 0..150 {
                let mut t = text.clone();
                for _ in 0..(1 + next() % 3) {
                    if t.is_empty() {
                        break;
                    }
                    let mut at = (next() as usize) % t.len();
                    while !t.is_char_boundary(at) {
                        at -= 1;
                    }
                    let mut end = (at + (next() as usize) % 4).min(t.len());
                    while !t.is_char_boundary(end) {
                        end -= 1;
                    }
                    let end = end.max(at);
                    let ins = alphabet[(next() as usize) % alphabet.len()];
                    match next() % 3 {
                        0 => t.replace_range(at..end, ""),
                        1 => t.insert_str(at, ins),
                        _ => t.replace_range(at..end, ins),
                    }
                }
                assert_equivalent(&t);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn event_builder_matches_serde_on_generated(
            text in "([a-z0-9 :,\\-\\[\\]{}'\"#&*!|>.~]{0,12}\n){0,6}"
        ) {
            assert_equivalent(&text);
        }
    }

    #[test]
    fn multiple_documents() {
        let docs = parse_documents("a: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
