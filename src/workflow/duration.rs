//! Durations as workflows write them (humantime: `500ms`, `2s`, `5m`, `1h 30m`).

/// Parses a humantime duration.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}
