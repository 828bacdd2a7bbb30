//! Just enough of the Kubernetes protobuf encoding to read what `kubectl create namespace`,
//! `create configmap`, `create secret` and `create serviceaccount` send (typed clients post
//! `application/vnd.kubernetes.protobuf`). Other kinds are refused with 415.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// One decoded field: number and raw payload.
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn fields(b: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (num, wire) = ((key >> 3) as u32, key & 7);
        match wire {
            0 => out.push(Field::Varint(num, varint(b, &mut pos)?)),
            1 => pos += 8,
            2 => {
                let len = varint(b, &mut pos)? as usize;
                let end = pos.checked_add(len).filter(|e| *e <= b.len())?;
                out.push(Field::Bytes(num, &b[pos..end]));
                pos = end;
            }
            5 => pos += 4,
            _ => return None,
        }
    }
    Some(out)
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `map<string, string|bytes>` entry.
fn entry(b: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let mut k = String::new();
    let mut v = Value::String(String::new());
    for f in fields(b)? {
        match f {
            Field::Bytes(1, x) => k = string(x),
            Field::Bytes(2, x) if bytes_value => {
                v = json!(base64::engine::general_purpose::STANDARD.encode(x))
            }
            Field::Bytes(2, x) => v = json!(string(x)),
            _ => {}
        }
    }
    Some((k, v))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for f in fields(b)? {
        match f {
            Field::Bytes(1, x) => {
                m.insert("name".into(), json!(string(x)));
            }
            Field::Bytes(2, x) => {
                m.insert("generateName".into(), json!(string(x)));
            }
            Field::Bytes(3, x) => {
                m.insert("namespace".into(), json!(string(x)));
            }
            Field::Bytes(11, x) => {
                let (k, v) = entry(x, false)?;
                labels.insert(k, v);
            }
            Field::Bytes(12, x) => {
                let (k, v) = entry(x, false)?;
                annotations.insert(k, v);
            }
            Field::Bytes(14, x) => finalizers.push(json!(string(x))),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Some(Value::Object(m))
}

/// Decode a protobuf request body into JSON, if its kind is one this module knows.
pub fn decode(body: &[u8]) -> Option<Value> {
    let rest = body.strip_prefix(MAGIC)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for f in fields(rest)? {
        match f {
            Field::Bytes(1, tm) => {
                for t in fields(tm)? {
                    match t {
                        Field::Bytes(1, x) => api_version = string(x),
                        Field::Bytes(2, x) => kind = string(x),
                        _ => {}
                    }
                }
            }
            Field::Bytes(2, x) => raw = x,
            _ => {}
        }
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    for f in fields(raw)? {
        match (kind.as_str(), f) {
            (_, Field::Bytes(1, x)) => obj["metadata"] = object_meta(x)?,
            ("ConfigMap", Field::Bytes(2, x)) => {
                let (k, v) = entry(x, false)?;
                data.insert(k, v);
            }
            ("ConfigMap", Field::Bytes(3, x)) | ("Secret", Field::Bytes(2, x)) => {
                let (k, v) = entry(x, true)?;
                if kind == "Secret" {
                    data.insert(k, v);
                } else {
                    binary.insert(k, v);
                }
            }
            ("Secret", Field::Bytes(3, x)) => obj["type"] = json!(string(x)),
            ("Secret", Field::Bytes(4, x)) => {
                let (k, v) = entry(x, false)?;
                string_data.insert(k, v);
            }
            ("ConfigMap", Field::Varint(4, v)) | ("Secret", Field::Varint(5, v)) => {
                obj["immutable"] = json!(v != 0)
            }
            ("ServiceAccount", Field::Varint(4, v)) => {
                obj["automountServiceAccountToken"] = json!(v != 0)
            }
            ("Namespace" | "ServiceAccount", _) => {}
            ("ConfigMap" | "Secret", _) => {}
            _ => return None,
        }
    }
    if !matches!(
        kind.as_str(),
        "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
    ) {
        return None;
    }
    for (name, m) in [
        ("data", data),
        ("binaryData", binary),
        ("stringData", string_data),
    ] {
        if !m.is_empty() {
            obj[name] = Value::Object(m);
        }
    }
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = [
            ld(1, b"cfg"),
            ld(3, b"default"),
            ld(11, &[ld(1, b"a"), ld(2, b"b")].concat()),
        ]
        .concat();
        let raw = [ld(1, &meta), ld(2, &[ld(1, b"k"), ld(2, b"v")].concat())].concat();
        let tm = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), ld(1, &tm), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "namespace": "default", "labels": {"a": "b"}},
                   "data": {"k": "v"}})
        );
    }
}
