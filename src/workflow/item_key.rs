//! The key that names one `for_each` instance in the journal (`link[production]`).

/// The key of one `for_each` item: the item itself when it is a string or a number; for a
/// mapping its `name` or `id`, else its scalar values joined by `/` (`monitoring/alloy`); for a
/// list (a `product` pair) its items' keys joined by `/`. Keyed by value, not by index, so that a
/// reordered list resumes correctly.
pub fn item_key(item: &serde_json::Value) -> String {
    match item {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Object(o) => match o.get("name").or_else(|| o.get("id")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => {
                let parts: Vec<String> = o
                    .values()
                    .filter(|v| v.is_string() || v.is_number())
                    .map(item_key)
                    .collect();
                if parts.is_empty() {
                    item.to_string()
                } else {
                    parts.join("/")
                }
            }
        },
        serde_json::Value::Array(a) if !a.is_empty() => {
            a.iter().map(item_key).collect::<Vec<_>>().join("/")
        }
        other => other.to_string(),
    }
}
