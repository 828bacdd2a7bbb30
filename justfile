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
bench:
    cargo bench --locked --workspace

# The newcomer demo: bootstrap on three simulated clusters with the live progress display.
demo:
    cargo run --locked --release --bin mcflow-demo

# CI, locally.
ci:
    bash .ci/run

# Reliability harnesses at full size (CI runs 10 crash trials and 2 soak runs): 100 trials of
# kill -9 + resume on a 50-step workflow, 20 seeded bootstraps under API faults. MCFLOW_SEED
# replays a seed.
soak trials="100" runs="20":
    MCFLOW_CRASH_TRIALS={{trials}} MCFLOW_SOAK_RUNS={{runs}} cargo test --locked --test reliability_crash --test reliability_soak -- --nocapture

# Property-based fuzzing (proptest; cargo-fuzz needs nightly) of the loader, templates, journal
# reader and --set/bind: 100 000 cases per target, at most `seconds` each, a fresh seed unless
# MCFLOW_FUZZ_SEED is set. Failures are saved in tests/proptest-regressions/.
fuzz seconds="120":
    MCFLOW_FUZZ_CASES=100000 MCFLOW_FUZZ_SECS={{seconds}} MCFLOW_FUZZ_SEED="${MCFLOW_FUZZ_SEED:-$(date +%s)}" cargo test --locked --release --test reliability_fuzz -- --nocapture --test-threads 2
