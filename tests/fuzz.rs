//! Property-based fuzzing (proptest; cargo-fuzz needs nightly) of the four parsers that read
//! input mcflow does not control: the workflow loader and validator, the template renderer,
//! the journal reader and the `--set` parser with param binding. The property is always "no
//! panic, no hang" (each case runs on a watchdog thread), plus a few exact properties where
//! there is one (a truncated journal reads back as a prefix of its events; `--set k=v` keeps
//! `v` byte for byte).
//!
//! Sizes: `MCFLOW_FUZZ_CASES` cases per target (default 256, what CI runs; `just fuzz` runs
//! 100 000), stopped early after `MCFLOW_FUZZ_SECS` seconds per target (default 15).
//! `MCFLOW_FUZZ_SEED` picks the seed (default fixed, printed). A failure is shrunk and its
//! seed saved under `tests/proptest-regressions/`, which proptest replays first next time;
//! each crash found also has a plain regression test at the end of this file.

mod support;

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mcflow::journal;
use mcflow::params;
use mcflow::workflow::{self, template, validate};
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use serde_json::json;
use support::env_u64;

/// A case that runs longer than this is a hang.
const HANG: Duration = Duration::from_secs(10);

/// Runs `check` on values of `strategy` within the case and time budget; every case on a
/// watchdog thread, so that a hang fails the test instead of stalling it.
fn fuzz<S>(
    target: &str,
    persistence: &'static str,
    strategy: S,
    check: impl Fn(S::Value) + Send + Sync + 'static,
) where
    S: Strategy,
    S::Value: Send + std::fmt::Debug + 'static,
{
    let cases = env_u64("MCFLOW_FUZZ_CASES", 256) as u32;
    let budget = Duration::from_secs(env_u64("MCFLOW_FUZZ_SECS", 15));
    let seed = env_u64("MCFLOW_FUZZ_SEED", 0x6d63_666c_6f77);
    println!("fuzz {target}: seed {seed} (MCFLOW_FUZZ_SEED), {cases} cases, {budget:?} at most");
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = seed.to_le_bytes()[i % 8] ^ (i as u8);
    }
    let config = Config {
        cases,
        max_shrink_iters: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(persistence))),
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let check = Arc::new(check);
    let start = Instant::now();
    let ran = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&strategy, |value| {
        if start.elapsed() > budget {
            return Ok(());
        }
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let check = Arc::clone(&check);
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(value)));
            let _ = tx.send(outcome);
        });
        match rx.recv_timeout(HANG) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(TestCaseError::fail(format!("hang: no answer in {HANG:?}"))),
        }
    });
    println!(
        "fuzz {target}: {} cases checked in {:.1?}",
        ran.into_inner(),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("fuzz {target} (seed {seed}): {e}");
    }
}

/// Pieces of workflow YAML: keys, indentation, flow and block syntax, anchors, tags,
/// templates, odd scalars.
const YAML_TOKENS: &[&str] = &[
    "name: ",
    "description: ",
    "steps:",
    "params:",
    "defaults:",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    "- ",
    "id: ",
    "run: ",
    "needs: ",
    "when: ",
    "for_each: ",
    "concurrency: ",
    "kube: ",
    "linkerd: ",
    "assert: ",
    "print: ",
    "workflow: ",
    "path: ",
    "with: ",
    "context: ",
    "apply: ",
    "manifest: ",
    "file: ",
    "label: ",
    "target: ",
    "kind: ",
    "selector: ",
    "set: ",
    "wait: ",
    "for: ",
    "get: ",
    "capture: ",
    "delete: ",
    "args: ",
    "argv: ",
    "env: ",
    "stdin: ",
    "cwd: ",
    "default: ",
    "enum: ",
    "pattern: ",
    "required: true",
    "sensitive: true",
    "outputs: ",
    "regex: ",
    "json: ",
    "retry: ",
    "attempts: ",
    "delay: ",
    "backoff: ",
    "max_delay: ",
    "jitter: ",
    "timeout: ",
    "continue_on_error: true",
    "{",
    "}",
    "[",
    "]",
    ", ",
    ": ",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!binary ",
    "!custom ",
    "? ",
    "|\n",
    ">-\n",
    "\"",
    "'",
    "\\",
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "params.x",
    "steps.a.stdout",
    "config.spokes",
    "item",
    "---\n",
    "...\n",
    "# comment\n",
    "\t",
    "~",
    "null",
    "true",
    "1e999",
    "-1",
    "0x1F",
    "18446744073709551616",
    "1ms",
    "2s",
    "5m",
    "99999999999999h",
    "0s",
    "%YAML 1.2\n",
    "\u{feff}",
    "\r\n",
    "\u{0}",
    "é",
    "a",
    "b",
    "sh",
    "../../etc/passwd",
];

fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(tokens).prop_map(str::to_string),
            2 => "[a-z_]{1,8}",
            1 => any::<char>().prop_map(String::from),
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
}

/// Valid workflows to mutate: the repository's own and a few small ones.
fn valid_workflows() -> Vec<String> {
    let mut out = vec![
        "name: a\nsteps:\n  - id: a\n    run: [echo, hi]\n  - id: b\n    needs: [a]\n    when: \"steps.a.exit_code == 0\"\n    run: { argv: [sh, -c, 'echo $0', \"{{ steps.a.stdout }}\"] }\n".to_string(),
        "name: p\nparams:\n  x: { default: y, pattern: '[a-z]+' }\n  n: { enum: [1, 2] }\ndefaults:\n  retry: { attempts: 3, delay: 1s }\nsteps:\n  - id: l\n    for_each: [a, b]\n    concurrency: 2\n    run: [echo, \"{{ item }}-{{ params.x }}\"]\n    outputs: { o: { regex: '(.*)' } }\n".to_string(),
        "name: k\nsteps:\n  - id: k\n    kube:\n      context: c\n      wait: { kind: Deployment, namespace: n, name: d, for: available }\n    timeout: 5m\n  - id: g\n    kube: { context: c, get: { kind: Link, namespace: n, name: x, capture: { g: /spec/x } } }\n".to_string(),
    ];
    for entry in std::fs::read_dir("workflows").expect("workflows/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            out.push(std::fs::read_to_string(&path).expect("a workflow"));
        }
    }
    out.sort();
    out
}

/// One edit of a text: delete a range, insert a token, duplicate a range, or replace a byte.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate(usize, usize),
    Byte(usize, u8),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), 0..40usize).prop_map(|(a, b)| Edit::Delete(a, b)),
            (any::<usize>(), prop::sample::select(YAML_TOKENS))
                .prop_map(|(a, t)| Edit::Insert(a, t)),
            (any::<usize>(), 0..80usize).prop_map(|(a, b)| Edit::Duplicate(a, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Byte(a, b)),
        ],
        1..8,
    )
}

fn mutate(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for e in edits {
        let at = |p: usize, b: &Vec<u8>| if b.is_empty() { 0 } else { p % (b.len() + 1) };
        match *e {
            Edit::Delete(p, n) => {
                let s = at(p, &b);
                let end = (s + n).min(b.len());
                b.drain(s..end);
            }
            Edit::Insert(p, t) => {
                let s = at(p, &b);
                b.splice(s..s, t.bytes());
            }
            Edit::Duplicate(p, n) => {
                let s = at(p, &b);
                let end = (s + n).min(b.len());
                let copy = b[s..end].to_vec();
                b.splice(end..end, copy);
            }
            Edit::Byte(p, v) => {
                if !b.is_empty() {
                    let s = p % b.len();
                    b[s] = v;
                }
            }
        }
    }
    b
}

fn config() -> serde_json::Value {
    let text = std::fs::read_to_string("config/clusters.yaml").expect("config/clusters.yaml");
    mcflow::yaml::from_str(&text).expect("config parses")
}

/// Loads and validates `text` as if it were `workflows/fuzzed.yaml` (so nested `workflow:`
/// paths resolve against the real workflows). Errors are fine; panics are not.
fn load_and_validate(text: &str, config: &serde_json::Value) {
    let path = Path::new("workflows/fuzzed.yaml");
    let (loaded, problems) = workflow::load::load_lenient(path, text);
    // Rendering a diagnostic must not panic either (spans must lie inside the text).
    let _ = problems.render(false);
    if let Ok(loaded) = workflow::load_str(path, text)
        && let Err(problems) = validate::validate(loaded, Some(config))
    {
        let _ = problems.render(false);
    }
    drop(loaded);
}

#[test]
fn fuzz_workflow_loader_on_yaml_soup() {
    let config = config();
    fuzz(
        "loader/soup",
        "tests/proptest-regressions/fuzz_loader_soup.txt",
        soup(YAML_TOKENS, 80),
        move |text| load_and_validate(&text, &config),
    );
}

#[test]
fn fuzz_workflow_loader_on_mutated_valid_workflows() {
    let config = config();
    let seeds = valid_workflows();
    let n = seeds.len();
    fuzz(
        "loader/mutated",
        "tests/proptest-regressions/fuzz_loader_mutated.txt",
        (0..n, edits()),
        move |(i, e)| {
            let bytes = mutate(&seeds[i], &e);
            load_and_validate(&String::from_utf8_lossy(&bytes), &config);
        },
    );
}

#[test]
fn fuzz_workflow_loader_on_arbitrary_text() {
    let config = config();
    fuzz(
        "loader/arbitrary",
        "tests/proptest-regressions/fuzz_loader_arbitrary.txt",
        ".{0,300}",
        move |text: String| load_and_validate(&text, &config),
    );
}

const TEMPLATE_TOKENS: &[&str] = &[
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "{# ",
    " #}",
    "for x in ",
    "endfor",
    "if ",
    "elif ",
    "else",
    "endif",
    "set y = ",
    "y",
    "x",
    "params.spoke",
    "params.n",
    "params.list",
    "config.spokes",
    "config.hub.name",
    "steps.a.stdout",
    "steps.a.outputs.o",
    "steps.a.exit_code",
    "steps.missing",
    "item",
    "run.id",
    "loop.index",
    " | ",
    "upper",
    "b64decode",
    "b64encode",
    "from_json",
    "to_json",
    "from_yaml",
    "regex_search('",
    "regex_search(",
    "pem_fingerprints",
    "product(",
    "pad(",
    "length",
    "list",
    "map(attribute='name')",
    "join(',')",
    "default('d')",
    "range(",
    "read_file('",
    "linkerd_uses_link_gen(",
    "dict(",
    "namespace()",
    "(",
    ")",
    "[",
    "]",
    "'",
    "\"",
    ",",
    ".",
    "~",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "==",
    "!=",
    "<",
    " and ",
    " or ",
    " not ",
    " in ",
    " is defined",
    "0",
    "1",
    "3",
    "-1",
    "65536",
    "99999999999999999999",
    "0.5",
    "none",
    "true",
    "'(.*)'",
    "'['",
    "'a: [b'",
    "'{\"a\": 1}'",
    "'-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'",
    "'stable-2.18.1'",
    "\n",
    "text ",
];

fn template_context() -> minijinja::Value {
    template::value_of(&json!({
        "params": { "spoke": "production", "n": 3, "list": ["a", "b", "c"] },
        "config": config(),
        "steps": { "a": { "stdout": "hello\n", "stderr": "", "exit_code": 0,
                          "outputs": { "o": "v" }, "status": "succeeded" } },
        "item": ["production", { "namespace": "monitoring", "service": "alloy" }],
        "run": { "id": "20260101-000000-abcd", "started_at": "2026-01-01T00:00:00Z",
                 "workflow": "w.yaml", "dir": "." },
    }))
}

#[test]
fn fuzz_template_render_and_eval() {
    let ctx = template_context();
    fuzz(
        "template",
        "tests/proptest-regressions/fuzz_template.txt",
        soup(TEMPLATE_TOKENS, 24),
        move |src| {
            let _ = template::render(&src, &ctx);
            let _ = template::eval(&src, &ctx);
            let _ = template::names_in_template(&src);
            let _ = template::names_in_expression(&src);
            let _ = template::render_value(&json!(src), &ctx);
        },
    );
}

/// A journal as a real run writes it.
fn sample_journal() -> Vec<String> {
    let events = [
        json!({"ts":"2026-01-01T00:00:00.000000Z","event":"run_started","run_id":"r","workflow":"w.yaml",
               "workflow_name":"w","files":{"w.yaml":"ab"},"params":{"spoke":"production"},"version":"0.1.0","pid":7}),
        json!({"ts":"2026-01-01T00:00:00.100000Z","event":"step_started","step":"link[nonproduction]","attempt":1,"max_attempts":3}),
        json!({"ts":"2026-01-01T00:00:00.200000Z","event":"attempt_failed","step":"link[nonproduction]","attempt":1,"error":"é ✓ 500","retry_in_ms":10}),
        json!({"ts":"2026-01-01T00:00:00.300000Z","event":"step_succeeded","step":"link[nonproduction]","attempt":2,"duration_ms":5,
               "result":{"stdout":"ok\n","stderr":"","exit_code":0,"outputs":{"o":"v"}},"sensitive":false}),
        json!({"ts":"2026-01-01T00:00:00.400000Z","event":"step_skipped","step":"b","reason":"when is false"}),
        json!({"ts":"2026-01-01T00:00:00.500000Z","event":"step_reused","step":"c"}),
        json!({"ts":"2026-01-01T00:00:00.600000Z","event":"step_failed","step":"d","attempt":1,"error":"x","duration_ms":1}),
        json!({"ts":"2026-01-01T00:00:00.700000Z","event":"run_resumed","run_id":"r","pid":8}),
        json!({"ts":"2026-01-01T00:00:00.800000Z","event":"run_finished","status":"failed","duration_ms":9,"succeeded":1,"failed":1,"skipped":1}),
    ];
    events.iter().map(|e| format!("{e}\n")).collect()
}

fn read_bytes(dir: &Path, bytes: &[u8]) -> Result<journal::JournalRead, journal::StateError> {
    let path = dir.join("journal.jsonl");
    std::fs::write(&path, bytes).expect("write a journal");
    journal::read(&path)
}

#[test]
fn fuzz_journal_reader_on_arbitrary_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let counter = std::sync::atomic::AtomicU64::new(0);
    fuzz(
        "journal/bytes",
        "tests/proptest-regressions/fuzz_journal_bytes.txt",
        prop::collection::vec(any::<u8>(), 0..2048),
        move |bytes| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d = root.join(n.to_string());
            std::fs::create_dir_all(&d).unwrap();
            if let Err(e) = read_bytes(&d, &bytes) {
                let _ = e.to_string();
            }
            let _ = std::fs::remove_dir_all(&d);
        },
    );
}

#[test]
fn fuzz_journal_reader_on_truncated_and_mutated_journals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let lines = sample_journal();
    let whole: String = lines.concat();
    let counter = std::sync::atomic::AtomicU64::new(0);
    fuzz(
        "journal/truncated",
        "tests/proptest-regressions/fuzz_journal_truncated.txt",
        (any::<usize>(), prop::option::of(edits())),
        move |(cut, edits)| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d = root.join(n.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let cut = cut % (whole.len() + 1);
            let prefix = &whole.as_bytes()[..cut];
            match edits {
                // A crash cuts the file anywhere: it always reads, as a prefix of the events.
                None => {
                    let read = read_bytes(&d, prefix)
                        .unwrap_or_else(|e| panic!("a journal cut at byte {cut} is an error: {e}"));
                    let complete = prefix.iter().filter(|b| **b == b'\n').count();
                    // The last line cut just before its newline is a whole event, kept; cut
                    // anywhere else it is torn, skipped and reported.
                    let partial = prefix.len() - lines[..complete].concat().len();
                    let whole_line = partial > 0 && partial + 1 == lines[complete].len();
                    let expected = complete + usize::from(whole_line);
                    assert_eq!(read.events.len(), expected, "cut at {cut}");
                    assert_eq!(read.torn_tail, partial > 0 && !whole_line, "cut at {cut}");
                    for (event, line) in read.events.iter().zip(&lines) {
                        let original: journal::Event = serde_json::from_str(line).unwrap();
                        assert_eq!(event, &original);
                    }
                }
                // Any damage is read or refused with a line number, never a panic.
                Some(edits) => {
                    let bytes = mutate(&String::from_utf8_lossy(prefix), &edits);
                    match read_bytes(&d, &bytes) {
                        Ok(_) => {}
                        Err(journal::StateError::Corrupt { line, .. }) => {
                            assert!(line >= 1 && line <= bytes.split(|b| *b == b'\n').count());
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&d);
        },
    );
}

const REGEX_TOKENS: &[&str] = &[
    "[a-z]", "+", "*", "?", "(", ")", "|", ".", "^", "$", "\\d", "\\", "{2,3}", "{99999}", "[^-]",
    "-", "a", "(?i)", "\\p{L}", "]", "[",
];

#[test]
fn fuzz_set_parser_keeps_values_verbatim() {
    fuzz(
        "set/parse",
        "tests/proptest-regressions/fuzz_set.txt",
        ("[^=]{0,40}", ".{0,80}"),
        |(key, value): (String, String)| {
            let arg = format!("{key}={value}");
            match params::parse_set(&arg) {
                Ok((k, v)) => {
                    assert!(!key.trim().is_empty(), "{arg:?} was accepted");
                    assert_eq!(k, key.trim());
                    assert_eq!(v, value, "the value must reach the step byte for byte");
                }
                Err(e) => assert!(key.trim().is_empty(), "{arg:?}: {e}"),
            }
            let _ = params::parse_set(&key);
        },
    );
}

#[test]
fn fuzz_param_binding() {
    let config = config();
    let spec = (
        any::<bool>(),
        prop::option::of(soup(REGEX_TOKENS, 8)),
        prop::option::of(prop_oneof![
            prop::collection::vec(".{0,6}", 0..4).prop_map(|v| json!(v)),
            soup(TEMPLATE_TOKENS, 10).prop_map(|s| json!(s)),
        ]),
        prop::option::of(".{0,10}"),
    );
    fuzz(
        "set/bind",
        "tests/proptest-regressions/fuzz_bind.txt",
        (
            prop::collection::vec(("[a-c]{1,2}", spec), 0..4),
            prop::collection::vec(("[a-d]{1,2}", ".{0,30}"), 0..4),
        ),
        move |(specs, values)| {
            let mut map = serde_json::Map::new();
            for (name, (required, pattern, choices, default)) in specs {
                let mut s = serde_json::Map::new();
                s.insert("required".into(), json!(required));
                if let Some(p) = pattern {
                    s.insert("pattern".into(), json!(p));
                }
                if let Some(c) = choices {
                    s.insert("enum".into(), c);
                }
                if let Some(d) = default {
                    s.insert("default".into(), json!(d));
                }
                map.insert(name, serde_json::Value::Object(s));
            }
            let Ok(specs) = serde_json::from_value(serde_json::Value::Object(map)) else {
                return;
            };
            let values: params::ParamValues =
                values.into_iter().map(|(k, v)| (k, json!(v))).collect();
            match params::bind(&specs, &values, &config, "fuzzed") {
                Ok(bound) => {
                    for (name, value) in &bound {
                        if let Some(given) = values.get(name) {
                            assert_eq!(value, given, "bound values are the given ones");
                        }
                    }
                }
                Err(problems) => {
                    let _ = problems.to_string();
                }
            }
        },
    );
}

// Regressions: each crash the fuzzers found, as a plain test.

/// `pad` with a width above u16::MAX panicked inside `format!` (found by
/// fuzz_template_render_and_eval); it is now an error.
#[test]
fn regression_pad_with_a_huge_width_is_an_error_not_a_panic() {
    let ctx = template_context();
    for width in ["65536", "99999999999999", "18446744073709551615"] {
        let src = format!("{{{{ 'x' | pad({width}) }}}}");
        let err = template::render(&src, &ctx).expect_err("too wide");
        assert!(err.contains("pad"), "{err}");
    }
    assert_eq!(
        template::render("{{ 'x' | pad(3) }}|", &ctx).unwrap(),
        "x  |"
    );
}

/// Deeply nested flow collections and an alias bomb (10^12 nodes once expanded) are refused
/// by the YAML budget, in bounded time (about 0.5 s for the bomb in a release build; the bound
/// here is loose for a debug build on a loaded CI machine).
#[test]
fn regression_nesting_and_alias_bombs_are_bounded() {
    let deep = format!(
        "name: d\nsteps: {}{}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut bomb = String::from("name: b\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("steps: *a11\n");
    // Bounded by the parser's budget, which the error names (no wall-clock assertion: on a
    // loaded machine a debug build of this test once took 62 s and failed a 60 s limit).
    for (what, text) in [("deep", deep), ("bomb", bomb)] {
        let err = mcflow::yaml::parse(&text).expect_err(what);
        assert!(
            err.message.contains("budget") || err.message.contains("recursion"),
            "{what}: {}",
            err.message
        );
    }
}
