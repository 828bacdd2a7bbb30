//! Typed values read straight from a [`Node`] tree, without the JSON copy in between.
//!
//! The loader's usual road is `Node::to_json` + `serde_path_to_error`, which knows the path of a
//! wrong value for the diagnostic. A right value needs no path: reading it from the tree
//! directly saves copying every string and map of the workflow twice (a sixth of
//! `mcflow validate`). The loader tries this first and takes the JSON road only on failure, so
//! what a wrong file is told is unchanged.
//!
//! The values a visitor sees are exactly those [`Node::to_json`] followed by serde_json's own
//! deserializer would show it (non-negative integers as `u64`, a non-finite float as null,
//! mappings in key order), so that both roads build the same value (tested below).

use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

use super::{Node, Value};

impl<'de> IntoDeserializer<'de, Error> for &'de Node {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for &'de Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => match u64::try_from(*i) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_i64(*i),
            },
            Value::Float(f) if f.is_finite() => visitor.visit_f64(*f),
            Value::Float(_) => visitor.visit_unit(),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Map(entries) => {
                // serde_json's maps are sorted by key (and `to_json` keeps the last of equal
                // keys, which the parser has already refused).
                let mut sorted: Vec<&(super::Key, Node)> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.name.cmp(&b.0.name));
                let mut map =
                    MapDeserializer::new(sorted.into_iter().map(|(k, v)| (k.name.as_str(), v)));
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.value {
            Value::Null => visitor.visit_none(),
            Value::Float(f) if !f.is_finite() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.value {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(VariantWithValue {
                    name: &key.name,
                    value,
                })
            }
            _ => Err(de::Error::custom(
                "expected an enum: a string or a one-key map",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// `{ variant: value }`.
struct VariantWithValue<'de> {
    name: &'de str,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for VariantWithValue<'de> {
    type Error = Error;
    type Variant = &'de Node;

    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, &'de Node), Error> {
        let variant = seed.deserialize(self.name.into_deserializer())?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for &'de Node {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }
}

#[cfg(test)]
mod tests {

    use crate::workflow::model::{Step, Workflow};

    /// Both roads, compared through their JSON text.
    fn same<T>(yaml: &str)
    where
        T: serde::de::DeserializeOwned + serde::Serialize,
    {
        let node = crate::yaml::parse(yaml).expect("parses");
        // As text, so that the order of an `IndexMap` counts too.
        let direct = T::deserialize(&node).map(|v| serde_json::to_string(&v).unwrap());
        let via_json =
            serde_json::from_value::<T>(node.to_json()).map(|v| serde_json::to_string(&v).unwrap());
        match (direct, via_json) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{yaml}"),
            // A value the direct road refuses goes the JSON road, which says why: only a value
            // the direct road accepts and the JSON road refuses would change behaviour.
            (Ok(a), Err(e)) => panic!("direct accepted {a} that JSON refuses ({e}): {yaml}"),
            _ => {}
        }
    }

    /// The direct road sorts mapping keys because serde_json's maps are sorted (no
    /// `preserve_order` anywhere in the build); if a dependency ever turned that feature on,
    /// both roads must change together.
    #[test]
    fn json_maps_are_sorted_as_the_direct_road_assumes() {
        let map: serde_json::Map<String, serde_json::Value> = [("b", 1), ("a", 2), ("c", 3)]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn scalars_and_containers_read_as_through_json() {
        for yaml in [
            "null",
            "true",
            "0",
            "-7",
            "9223372036854775807",
            "1.5",
            "-0.0",
            "1e3",
            "text",
            "''",
            "[1, -2, x, null, [a]]",
            "{b: 1, a: [2], c: {d: e}}",
            "{}",
            "[]",
        ] {
            same::<serde_json::Value>(yaml);
            same::<Option<serde_json::Value>>(yaml);
            same::<Option<i64>>(yaml);
            same::<Option<u32>>(yaml);
            same::<Option<f64>>(yaml);
            same::<Option<String>>(yaml);
            same::<Option<Vec<String>>>(yaml);
            same::<Option<std::collections::BTreeMap<String, serde_json::Value>>>(yaml);
            same::<Option<indexmap::IndexMap<String, serde_json::Value>>>(yaml);
        }
    }

    #[test]
    fn steps_and_workflows_read_as_through_json() {
        let steps = [
            "{id: a, run: [echo, '{{ params.x }}']}",
            "{id: a, run: {cmd: [sh, -c, 'exit 1'], env: {B: '1', A: '2'}, stdin: x}, retry: {attempts: 3, delay: 1s}}",
            "{id: a, run: echo hi, outputs: {z: {regex: 'v(\\d+)'}, a: {json: /x}}, timeout: 30s}",
            "{id: a, linkerd: [check, --multicluster], needs: [b, c], when: 'params.x == 1'}",
            "{id: a, for_each: [1, two, {k: v}], print: '{{ item }}', continue_on_error: true}",
            "{id: a, for_each: '{{ config.spokes }}', assert: {that: 'x', message: m}}",
            "{id: a, assert: 'params.x'}",
            "{id: a, workflow: link-spoke.yaml, with: {spoke: '{{ item }}', n: 3}}",
            "{id: a, kube: {apply: {cluster: hub, manifest: 'x'}}, sensitive: true}",
            "{id: a, kube: {wait: {cluster: hub, kind: Deployment, name: d, for: available}}}",
            "{id: a, unknown_field: 1, run: echo}",
            "{id: 7, run: echo}",
            "{run: echo}",
            "{id: a, retry: 3, run: echo}",
        ];
        for yaml in steps {
            same::<Step>(yaml);
        }
        same::<Workflow>("name: w\nparams: {b: {required: true}, a: {default: 1}}\nsteps: []\n");
        same::<Workflow>("name: w\nsteps: [{id: a, run: echo}]\n");
    }

    /// Step-shaped JSON: the field names and value shapes a step has, in any combination,
    /// right or wrong.
    fn step_like() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[a-z{}. ]{0,12}".prop_map(serde_json::Value::from),
        ];
        let keys = prop::sample::select(vec![
            "id",
            "name",
            "run",
            "cmd",
            "linkerd",
            "kube",
            "apply",
            "cluster",
            "needs",
            "when",
            "for_each",
            "retry",
            "attempts",
            "delay",
            "timeout",
            "outputs",
            "regex",
            "json",
            "assert",
            "that",
            "print",
            "workflow",
            "with",
            "env",
            "stdin",
            "sensitive",
            "continue_on_error",
            "x",
        ]);
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| {
                    serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn generated_steps_read_as_through_json(value in step_like()) {
            let yaml = crate::yaml::to_string(&value).expect("serializes");
            if crate::yaml::parse(&yaml).is_ok() {
                same::<Step>(&yaml);
                same::<serde_json::Value>(&yaml);
            }
        }
    }

    #[test]
    fn every_repository_workflow_reads_as_through_json() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("workflows/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                same::<Workflow>(&std::fs::read_to_string(&path).expect("read"));
                seen += 1;
            }
        }
        assert!(seen >= 5, "{seen}");
    }
}
