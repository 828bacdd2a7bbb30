//! Sizes from the environment (small in CI, full under `just soak` / `just fuzz`) and seeded
//! randomness: the seed is printed, and `MCFLOW_SEED` replays it.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// A number from the environment, or `default` (CI sizes).
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same, as a `usize`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of a harness: `MCFLOW_SEED`, or a fixed default, printed so a failure replays.
pub fn seeded(harness: &str, default: u64) -> (u64, StdRng) {
    let seed = env_u64("MCFLOW_SEED", default);
    println!("{harness}: seed {seed} (replay with MCFLOW_SEED={seed})");
    (seed, StdRng::seed_from_u64(seed))
}
