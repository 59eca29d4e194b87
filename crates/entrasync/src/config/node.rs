//! The YAML of a config as a tree that keeps the line of every key and value, and a serde
//! deserializer over that tree whose errors carry the line and the key path (`spec.concurrency`)
//! of the value at fault.
//!
//! A type error never shows the value itself, only its kind ("found an integer"): the value may
//! be a secret (`client_secret: 12345678`).

use serde::de::{
    self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::fmt;

/// A YAML value and the (1-based) line it starts on; 0 when unknown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub line: u32,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry: the key (scalars are read as their text) and its line, and the value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_line: u32,
    pub value: Node,
}

impl Node {
    /// The entry of a mapping named `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The line of the mapping key `key`, if the node is a mapping that has it.
    pub fn key_line(&self, key: &str) -> Option<u32> {
        self.entry(key).map(|e| e.key_line).filter(|l| *l > 0)
    }

    /// Plain JSON, as the sinks and the plugin protocol take specs.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => {
                if let Ok(u) = u64::try_from(*i) {
                    J::from(u)
                } else if let Ok(s) = i64::try_from(*i) {
                    J::from(s)
                } else {
                    J::String(i.to_string())
                }
            }
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A tree from JSON (the plugin receives specs as JSON); every node gets `line`.
    pub fn from_json(value: &serde_json::Value, line: u32) -> Node {
        use serde_json::Value as J;
        let value = match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Value::Int(i.into()),
                (_, Some(u), _) => Value::Int(u.into()),
                (_, _, Some(f)) => Value::Float(f),
                _ => Value::Null,
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Seq(items.iter().map(|v| Node::from_json(v, line)).collect()),
            J::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| Entry {
                        key: k.clone(),
                        key_line: line,
                        value: Node::from_json(v, line),
                    })
                    .collect(),
            ),
        };
        Node { line, value }
    }

    /// How a value is described in a type error: its kind, never its content.
    fn unexpected(&self) -> Unexpected<'static> {
        match &self.value {
            Value::Null => Unexpected::Unit,
            Value::Bool(_) => Unexpected::Other("a boolean"),
            Value::Int(_) => Unexpected::Other("an integer"),
            Value::Float(_) => Unexpected::Other("a number with a fraction"),
            Value::Str(_) => Unexpected::Other("a string"),
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }
}

/// Parses every document of `text`. Empty documents (a stray `---`) are left out.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Node>, LocError> {
    let docs: Vec<Spanned<RawValue>> =
        serde_saphyr::from_str_multiple(text).map_err(|e| yaml_error(&e))?;
    Ok(docs
        .into_iter()
        .map(node)
        .filter(|n| n.value != Value::Null)
        .collect())
}

fn yaml_error(e: &serde_saphyr::Error) -> LocError {
    let inner = e.without_snippet();
    let full = inner.to_string();
    let first = full.lines().next().unwrap_or_default();
    // The location is reported separately, as `file:line:`.
    let message = match first.rfind(" at line ") {
        Some(at) if first[at..].contains("column") => &first[..at],
        _ => first,
    };
    let message = match inner {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => match key {
            Some(key) => format!("duplicate key `{}`", short(key, 60)),
            None => "duplicate key".to_string(),
        },
        // Neither the scalar (it may be a secret) nor the parser's option names.
        serde_saphyr::Error::NonFiniteFloat { .. } => {
            "a number that is not finite (.inf, .nan, or too large for a float)".to_string()
        }
        _ => message
            .replace("unknown field", "unknown key")
            .replace("missing field", "missing required key"),
    };
    LocError {
        line: e.location().map(|l| line_of(l.line())).filter(|l| *l > 0),
        path: String::new(),
        message: short(&message, 300),
        located: true,
    }
}

fn line_of(line: u64) -> u32 {
    u32::try_from(line).unwrap_or(u32::MAX)
}

fn node(spanned: Spanned<RawValue>) -> Node {
    Node {
        line: line_of(spanned.referenced.line()),
        value: spanned.value.0,
    }
}

/// Text from the config or a server made safe to show: control characters escaped (no forged
/// log lines or terminal escapes), cut at `max` characters.
pub(crate) fn short(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A YAML value read through `deserialize_any`, children with their locations.
struct RawValue(Value);

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue(Value::Int(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        Ok(RawValue(Value::Int(v.into())))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        Ok(RawValue(Value::Int(v)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        Ok(RawValue(match i128::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        }))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue(Value::Float(v)))
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<RawValue, E> {
        Ok(RawValue(Value::Str(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue(Value::Str(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue(Value::Str(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawValue, E> {
        Ok(RawValue(Value::Str(
            String::from_utf8_lossy(v).into_owned(),
        )))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(node(item));
        }
        Ok(RawValue(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawValue>>()? {
            let key_line = line_of(key.referenced.line());
            let key = match key.value.0 {
                Value::Str(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Float(f) => f.to_string(),
                Value::Null => "null".to_string(),
                // Refused as an unknown key, at its line, by whatever reads the mapping.
                Value::Seq(_) => "(a list)".to_string(),
                Value::Map(_) => "(a mapping)".to_string(),
            };
            let value = node(map.next_value::<Spanned<RawValue>>()?);
            entries.push(Entry {
                key,
                key_line,
                value,
            });
        }
        Ok(RawValue(Value::Map(entries)))
    }
}

/// A config mistake: the line and key path of the value at fault, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LocError {
    pub line: Option<u32>,
    /// Dotted key path from the document's `spec` (`spec.concurrency`, `tables[2]`); empty for
    /// the document itself.
    pub path: String,
    pub message: String,
    located: bool,
}

impl LocError {
    pub fn new(line: Option<u32>, path: impl Into<String>, message: impl Into<String>) -> Self {
        LocError {
            line: line.filter(|l| *l > 0),
            path: path.into(),
            message: message.into(),
            located: true,
        }
    }

    /// Places an error raised by a visitor at the value being read, unless a deeper value
    /// already claimed it.
    fn at(mut self, line: u32, path: &str) -> Self {
        if !self.located {
            self.line = Some(line).filter(|l| *l > 0);
            self.path = path.to_string();
            self.located = true;
        }
        self
    }
}

impl fmt::Display for LocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for LocError {}

fn unlocated(message: String) -> LocError {
    LocError {
        line: None,
        path: String::new(),
        message,
        located: false,
    }
}

/// Serde's names for what a visitor expects, in the words of a config file.
fn expected_text(exp: &dyn de::Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "a sequence" => "a list".into(),
        "a boolean" => "true or false".into(),
        t if t.starts_with("struct ") || t == "a map" => "a mapping".into(),
        t if t.starts_with("enum ") => "one of the documented values".into(),
        "u64" | "u32" | "u16" | "u8" | "usize" | "i64" | "i32" => "an integer".into(),
        _ => text,
    }
}

fn unexpected_text(unexp: &Unexpected) -> String {
    match unexp {
        Unexpected::Bool(_) => "a boolean".into(),
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer".into(),
        Unexpected::Float(_) => "a number with a fraction".into(),
        Unexpected::Char(_) | Unexpected::Str(_) => "a string".into(),
        Unexpected::Bytes(_) => "bytes".into(),
        Unexpected::Unit => "nothing (null)".into(),
        Unexpected::Option => "an optional value".into(),
        Unexpected::Seq => "a list".into(),
        Unexpected::Map => "a mapping".into(),
        Unexpected::Other(other) => (*other).into(),
        _ => "another kind of value".into(),
    }
}

fn one_of(names: &'static [&'static str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl de::Error for LocError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        unlocated(msg.to_string())
    }

    // Neither the value of a wrong type nor an out-of-range one is shown: it may be a secret.
    fn invalid_type(unexp: Unexpected, exp: &dyn de::Expected) -> Self {
        let expected = expected_text(exp);
        let found = unexpected_text(&unexp);
        let hint = if expected == "a string"
            && matches!(
                unexp,
                Unexpected::Unsigned(_) | Unexpected::Signed(_) | Unexpected::Float(_)
            ) {
            "; put the value in quotes"
        } else {
            ""
        };
        unlocated(format!("expected {expected}, found {found}{hint}"))
    }

    fn invalid_value(unexp: Unexpected, exp: &dyn de::Expected) -> Self {
        // E.g. a negative number for an unsigned option: the value is not shown.
        unlocated(format!(
            "{} out of range: expected {}",
            unexpected_text(&unexp),
            expected_text(exp)
        ))
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        unlocated(format!(
            "expected {}, found {len} items",
            expected_text(exp)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        unlocated(format!(
            "unknown value {:?}, expected one of {}",
            short(variant, 60),
            one_of(expected)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        unlocated(format!(
            "unknown key `{}`, expected one of {}",
            short(field, 60),
            one_of(expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        unlocated(format!("missing required key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        unlocated(format!("duplicate key `{field}`"))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Deserializes one node of the tree; errors are placed at `line` (the line of the key that
/// holds the value, or of the list item) and named by `path`.
pub(crate) struct De<'a> {
    node: &'a Node,
    path: String,
    line: u32,
}

impl<'a> De<'a> {
    pub fn new(node: &'a Node, path: impl Into<String>, line: u32) -> Self {
        De {
            node,
            path: path.into(),
            line,
        }
    }

    fn invalid_type(&self, expected: &str) -> LocError {
        <LocError as de::Error>::invalid_type(self.node.unexpected(), &expected)
    }
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = LocError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocError> {
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => {
                if let Ok(u) = u64::try_from(*i) {
                    visitor.visit_u64(u)
                } else if let Ok(s) = i64::try_from(*i) {
                    visitor.visit_i64(s)
                } else {
                    visitor.visit_i128(*i)
                }
            }
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe {
                path: &self.path,
                items: items.iter().enumerate(),
            }),
            Value::Map(entries) => visitor.visit_map(MapDe {
                path: &self.path,
                entries: entries.iter(),
                pending: None,
            }),
        };
        result.map_err(|e| e.at(self.line, &self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocError> {
        let (line, path) = (self.line, self.path.clone());
        let result = match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        result.map_err(|e| e.at(line, &path))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LocError> {
        let result = match &self.node.value {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(self.invalid_type("a string")),
        };
        result.map_err(|e| e.at(self.line, &self.path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LocError> {
        match &self.node.value {
            Value::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid_type("a mapping").at(self.line, &self.path)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocError> {
        match &self.node.value {
            Value::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid_type("a mapping").at(self.line, &self.path)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocError> {
        match &self.node.value {
            Value::Seq(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid_type("a list").at(self.line, &self.path)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, LocError> {
        let (line, path) = (self.line, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(line, &path))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LocError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct tuple tuple_struct identifier
    }
}

struct SeqDe<'a, 'p> {
    path: &'p str,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = LocError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, LocError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, item)) => {
                let path = format!("{}[{i}]", self.path);
                // Also places what a `deserialize_with` check finds after reading the value.
                seed.deserialize(De::new(item, path.clone(), item.line))
                    .map(Some)
                    .map_err(|e| e.at(item.line, &path))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    path: &'p str,
    entries: std::slice::Iter<'a, Entry>,
    pending: Option<&'a Entry>,
}

impl<'de> MapAccess<'de> for MapDe<'_, '_> {
    type Error = LocError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, LocError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(entry);
        let key: de::value::StrDeserializer<'_, LocError> = entry.key.as_str().into_deserializer();
        // An unknown key is reported at its own line, named within its mapping.
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.at(entry.key_line, self.path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, LocError> {
        let entry = self
            .pending
            .take()
            .ok_or_else(|| unlocated("a value was read before its key".into()))?;
        let path = join(self.path, &entry.key);
        // Also places what a `deserialize_with` check finds after reading the value.
        seed.deserialize(De::new(&entry.value, path.clone(), entry.key_line))
            .map_err(|e| e.at(entry.key_line, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Reads an optional integer that must lie in `min..=max`; the message names the range (and
/// `unit`), never a value of another type.
pub(crate) fn ranged<'de, D: Deserializer<'de>>(
    d: D,
    min: u64,
    max: u64,
    unit: &'static str,
) -> Result<Option<u64>, D::Error> {
    struct Range {
        min: u64,
        max: u64,
        unit: &'static str,
    }
    impl Range {
        fn range(&self) -> String {
            let unit = if self.unit.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.unit)
            };
            format!("an integer from {} to {}{unit}", self.min, self.max)
        }
        fn check<E: de::Error>(&self, n: i128) -> Result<Option<u64>, E> {
            if n < i128::from(self.min) || n > i128::from(self.max) {
                return Err(E::custom(format!("must be {}, not {n}", self.range())));
            }
            Ok(Some(n as u64))
        }
    }
    impl<'de> Visitor<'de> for Range {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(&self.range())
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u64>, E> {
            self.check(v.into())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u64>, E> {
            self.check(v.into())
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Option<u64>, E> {
            self.check(v)
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Option<u64>, E> {
            self.check(i128::try_from(v).unwrap_or(i128::MAX))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<u64>, E> {
            // A whole number too large for an integer (`1e30`, 40 digits) is out of range; any
            // other number with a fraction is the wrong type.
            if v.is_finite() && v.fract() == 0.0 && v.abs() >= 9.0e18 {
                return Err(E::custom(format!("must be {}, not {v:e}", self.range())));
            }
            Err(E::invalid_type(Unexpected::Float(v), &self))
        }
    }
    d.deserialize_option(Range { min, max, unit })
}
