//! Named outputs: a regex capture or a JSON pointer over a step's output.

use indexmap::IndexMap;

use crate::workflow::model::{OutputSpec, Stream};

/// Extracts every named output. `object` is a kube step's object, which a JSON pointer reads
/// when there is one.
pub fn extract(
    specs: &IndexMap<String, OutputSpec>,
    stdout: &str,
    stderr: &str,
    object: Option<&serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut out = serde_json::Map::new();
    for (name, spec) in specs {
        let text = match spec.from {
            Stream::Stdout => stdout,
            Stream::Stderr => stderr,
        };
        let value = if let Some(re) = &spec.regex {
            let re = crate::regexes::compiled(re).map_err(|e| format!("output `{name}`: {e}"))?;
            let caps = re
                .captures(text)
                .ok_or_else(|| format!("output `{name}`: the regex `{re}` did not match"))?;
            let m = caps
                .get(1)
                .or_else(|| caps.get(0))
                .map_or("", |m| m.as_str());
            serde_json::Value::String(m.to_string())
        } else if let Some(ptr) = &spec.json {
            let parsed;
            let doc = match object {
                Some(o) if spec.from == Stream::Stdout => o,
                _ => {
                    parsed = serde_json::from_str::<serde_json::Value>(text)
                        .map_err(|e| format!("output `{name}`: output is not JSON: {e}"))?;
                    &parsed
                }
            };
            doc.pointer(ptr)
                .cloned()
                .ok_or_else(|| format!("output `{name}`: nothing at JSON pointer `{ptr}`"))?
        } else {
            continue;
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_and_pointer() {
        let specs: IndexMap<String, OutputSpec> = crate::yaml::from_str(
            "version: {regex: 'Client version: (\\S+)'}\nname: {json: /metadata/name}\n",
        )
        .unwrap();
        let mut only_regex = specs.clone();
        only_regex.shift_remove("name");
        let out = extract(&only_regex, "Client version: stable-2.14.10\n", "", None).unwrap();
        assert_eq!(out["version"], "stable-2.14.10");
        let mut only_json = specs;
        only_json.shift_remove("version");
        let out = extract(&only_json, "{\"metadata\":{\"name\":\"x\"}}", "", None).unwrap();
        assert_eq!(out["name"], "x");
        assert!(extract(&only_json, "not json", "", None).is_err());
    }
}
