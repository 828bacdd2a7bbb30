# mcflow task runner (https://github.com/casey/just). `just --list` shows the recipes.

# Build the workspace.
build:
    cargo build --locked --workspace

# The test suite (what CI runs).
test:
    cargo test --locked --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --locked --workspace --all-targets -- -D warnings

# Benchmarks: figures as ratios against baselines measured in the same run.
# Each bench prints its figures (`FIGURE n | what | value | aim | meets/MISSES`); the table at the
# end gathers them. `just bench --quick` for fewer repetitions. Method: docs/PERFORMANCE.md.
bench *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    # The fake linkerd in release, as a real linkerd binary would be (a debug build spends most
    # of the fan-out bench in its own TLS handshakes).
    cargo build --locked --release --quiet -p mcflow-sim --bin fake-linkerd
    export FAKE_LINKERD="$(realpath "${CARGO_TARGET_DIR:-target}")/release/fake-linkerd"
    for b in step_overhead validate_plan kube_apply wait_latency fanout resume bootstrap kube_state; do
        echo "── $b"
        cargo bench --locked --quiet --bench "$b" -- {{ARGS}} 2>&1 | tee -a "$log"
    done
    # The shipped binary (release profile: no debug info, mcflow without its symbol table;
    # `cargo bench` builds keep the symbols, `--profile profiling` keeps line tables too).
    cargo build --locked --release --quiet --bin mcflow
    bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/mcflow"
    stat -c %s "$bin" | awk '{ m = $1 / 1048576; printf "FIGURE 8 | release binary size | %.1f MiB (%d bytes) | ≤ 20 MiB | %s\n", m, $1, (m <= 20 ? "meets" : "MISSES") }' | tee -a "$log"
    echo
    echo "── figures (issues 8 and 18), each against a baseline measured in the same run"
    {
        grep '^FIGURE' "$log" || true
    } | sed 's/^FIGURE //' | column -t -s '|'

# The newcomer demo: bootstrap on three simulated clusters with the live progress display.
demo:
    cargo run --locked --example demo

# The real-cluster rig (README, "The real-cluster rig"): builds etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok (and linkerd where the Go module proxy serves it)
# from pinned Go modules into target/rig/bin and prints their versions. Then `just test` runs the
# rig_* differential tests against it too.
rig:
    bash rig/build.sh

# CI, locally.
ci:
    bash .ci/run

# Reliability harnesses at full size (CI runs 10 crash trials and 2 soak runs): 100 trials of
# kill -9 + resume on a 50-step workflow, 20 seeded bootstraps under API faults, each with the
# local and with the kube state store. MCFLOW_SEED replays a seed.
soak trials="100" runs="20":
    MCFLOW_CRASH_TRIALS={{trials}} MCFLOW_CRASH_KUBE_TRIALS={{trials}} MCFLOW_SOAK_RUNS={{runs}} MCFLOW_SOAK_KUBE_RUNS={{runs}} cargo test --locked --test crash --test soak -- --nocapture

# Property-based fuzzing (proptest; cargo-fuzz needs nightly) of the loader, templates, journal
# reader and --set/bind: 100 000 cases per target, at most `seconds` each, a fresh seed unless
# MCFLOW_FUZZ_SEED is set. Failures are saved in tests/proptest-regressions/.
fuzz seconds="120":
    MCFLOW_FUZZ_CASES=100000 MCFLOW_FUZZ_SECS={{seconds}} MCFLOW_FUZZ_SEED="${MCFLOW_FUZZ_SEED:-$(date +%s)}" cargo test --locked --release --test fuzz -- --nocapture --test-threads 2
