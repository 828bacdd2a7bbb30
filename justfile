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
