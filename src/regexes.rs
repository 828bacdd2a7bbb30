//! Compiled regexes shared by the whole process, by pattern text.
//!
//! The same few patterns (an output's `regex:`, a param's `pattern:`) are applied once per step
//! instance: a `for_each` over 50 spokes of a workflow with such a step compiled the same
//! pattern 50 times, about 350 k instructions each (docs/PERFORMANCE.md, issue 18, 5c).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;

/// More distinct patterns than a run's workflows hold; past it the cache starts again (a
/// template's `regex_search` may build patterns from data).
const MAX_PATTERNS: usize = 512;

static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Default::default);

/// `Regex::new(pattern)`, compiled once per process (a `Regex` clone shares the compiled
/// program). Errors are not cached: they end the step that asked.
pub fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    if let Ok(cache) = CACHE.lock()
        && let Some(re) = cache.get(pattern)
    {
        return Ok(re.clone());
    }
    let re = Regex::new(pattern)?;
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= MAX_PATTERNS {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
    }
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_compiles_once_and_errors_pass_through() {
        let a = compiled(r"(\S+)\s*$").unwrap();
        let b = compiled(r"(\S+)\s*$").unwrap();
        assert_eq!(a.as_str(), b.as_str());
        assert_eq!(&b.captures("v 1.2 ").unwrap()[1], "1.2");
        assert!(compiled("(").is_err());
    }
}
