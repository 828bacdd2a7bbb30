//! `mcflow params <workflow>`: a workflow's params with description, default and allowed values.

/// The params (as [`crate::params::describe`] gives them) as text.
pub fn render_params(workflow: &str, file: &str, params: &[serde_json::Value]) -> String {
    let mut out = format!("params of workflow `{workflow}` ({file}):\n");
    if params.is_empty() {
        out.push_str("  (none)\n");
    }
    for p in params {
        let name = p["name"].as_str().unwrap_or_default();
        let how = if p["required"] == true {
            "required".to_string()
        } else if p["default"].is_null() {
            "optional".to_string()
        } else {
            format!("default: {}", crate::params::text_of(&p["default"]))
        };
        let sensitive = if p["sensitive"] == true {
            ", sensitive"
        } else {
            ""
        };
        out.push_str(&format!("\n  {name}  ({how}{sensitive})\n"));
        if let Some(d) = p["description"].as_str() {
            out.push_str(&format!(
                "      {}\n",
                d.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        match &p["allowed"] {
            serde_json::Value::Array(a) => {
                let values: Vec<String> = a.iter().map(crate::params::text_of).collect();
                out.push_str(&format!("      one of: {}\n", values.join(", ")));
            }
            serde_json::Value::String(why) => out.push_str(&format!("      one of: {why}\n")),
            _ => {}
        }
        if let Some(pattern) = p["pattern"].as_str() {
            out.push_str(&format!("      pattern: {pattern}\n"));
        }
    }
    out.push_str(&format!(
        "\nset them with --set name=value (or --values file.yaml): mcflow run {file} --set …\n"
    ));
    out
}
