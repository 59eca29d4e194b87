//! The resource schemas, parsed at start-up from the reference's Appendix A (copied verbatim into
//! `schema/appendix.txt`) plus `schema/extra.txt` for the resources and types the appendix lacks.
//! Keeping the text as data means "every documented property" is exactly what the reference lists.

use std::collections::HashMap;
use std::sync::OnceLock;

const APPENDIX: &str = include_str!("schema/appendix.txt");
const EXTRA: &str = include_str!("schema/extra.txt");

/// One property of a resource or complex type.
#[derive(Debug, Clone)]
pub struct Prop {
    pub name: String,
    /// Type name without `Edm.` and without `Collection(...)`.
    pub ty: String,
    pub collection: bool,
    pub nullable: bool,
}

#[derive(Debug, Default)]
pub struct Schema {
    pub resources: HashMap<String, Vec<Prop>>,
    pub complex: HashMap<String, Vec<Prop>>,
    pub enums: HashMap<String, Vec<String>>,
}

impl Schema {
    pub fn get() -> &'static Schema {
        static S: OnceLock<Schema> = OnceLock::new();
        S.get_or_init(|| {
            let mut s = Schema::default();
            s.parse(APPENDIX);
            s.parse(EXTRA);
            s
        })
    }

    /// Properties of a resource (entity) type; panics on an unknown name (a programming error).
    pub fn props(&self, resource: &str) -> &[Prop] {
        self.resources
            .get(resource)
            .unwrap_or_else(|| panic!("no schema for resource {resource}"))
    }

    pub fn has_prop(&self, resource: &str, name: &str) -> bool {
        self.props(resource).iter().any(|p| p.name == name)
    }

    fn parse(&mut self, text: &str) {
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("#### ") {
                current = rest.split_whitespace().next().map(str::to_string);
            } else if let Some(rest) = line.strip_prefix("- props:") {
                if let Some(name) = &current {
                    let props = parse_props(rest)
                        .into_iter()
                        // Streams are never inlined in JSON (e.g. application.logo).
                        .filter(|p| p.ty != "Stream")
                        .collect();
                    self.resources.insert(name.clone(), props);
                }
            } else if let Some(rest) = line.strip_prefix("- **") {
                current = None;
                let Some((name, rest)) = rest.split_once("**") else {
                    continue;
                };
                let body = rest.split_once(':').map(|x| x.1).unwrap_or("");
                self.complex.insert(name.to_string(), parse_props(body));
            } else if line.starts_with("## ") || line.starts_with("### ") {
                current = None;
            } else if let Some(rest) = line.strip_prefix("- ") {
                // enum line: `- name [flags]: a, b, c`
                if current.is_some() {
                    continue;
                }
                let Some((name, members)) = rest.split_once(':') else {
                    continue;
                };
                let name = name.trim().trim_end_matches(" [flags]").trim();
                if name.contains(' ') || name.contains('*') {
                    continue;
                }
                let members: Vec<String> = members
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty() && !m.starts_with('('))
                    .collect();
                if !members.is_empty() {
                    self.enums.insert(name.to_string(), members);
                }
            }
        }
    }
}

fn parse_props(text: &str) -> Vec<Prop> {
    let mut out = Vec::new();
    for part in text.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, ty)) = part.split_once(':') else {
            continue;
        };
        let mut ty = ty.trim().to_string();
        let nullable = !ty.ends_with('!');
        ty = ty.trim_end_matches('!').to_string();
        let mut collection = false;
        if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            collection = true;
            ty = inner.to_string();
        }
        if let Some(inner) = ty
            .strip_prefix("Collection(")
            .and_then(|t| t.strip_suffix(')'))
        {
            collection = true;
            ty = inner.to_string();
        }
        let ty = ty.trim_start_matches("Edm.").to_string();
        out.push(Prop {
            name: name.trim().to_string(),
            ty,
            collection,
            nullable,
        });
    }
    out
}

pub fn is_primitive(ty: &str) -> bool {
    matches!(
        ty,
        "String"
            | "Boolean"
            | "Int32"
            | "Int64"
            | "Double"
            | "Guid"
            | "DateTimeOffset"
            | "Binary"
            | "Duration"
            | "Date"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_appendix() {
        let s = Schema::get();
        assert!(
            s.props("user")
                .iter()
                .any(|p| p.name == "signInActivity" && p.ty == "signInActivity")
        );
        assert!(s.complex.contains_key("keyCredential"));
        assert!(s.enums["riskLevel"].contains(&"medium".to_string()));
        assert!(s.props("orgContact").len() > 5);
        // every non-primitive type referenced by a property resolves to a complex type or an enum
        let mut missing = Vec::new();
        let all = s.resources.values().chain(s.complex.values());
        for props in all {
            for p in props {
                if !is_primitive(&p.ty)
                    && !s.complex.contains_key(&p.ty)
                    && !s.enums.contains_key(&p.ty)
                {
                    missing.push(p.ty.clone());
                }
            }
        }
        // ipRange is abstract with no properties of its own; it is filled with a derived type.
        missing.retain(|m| m != "ipRange");
        assert!(missing.is_empty(), "unresolved types: {missing:?}");
    }
}
