//! OData query options: parsing `$select/$top/$filter/$count/...` and evaluating `$filter`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::errors;
use crate::state::{Req, Resp};

#[derive(Debug, Default, Clone)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub filter: Option<Expr>,
    pub filter_text: Option<String>,
    pub count: bool,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    pub orderby: Option<String>,
    pub search: Option<String>,
    pub expand: Option<String>,
}

const KNOWN: &[&str] = &[
    "$select",
    "$top",
    "$filter",
    "$count",
    "$skiptoken",
    "$deltatoken",
    "$orderby",
    "$search",
    "$expand",
    "$skip",
    "$format",
];

pub fn parse(req: &Req) -> Result<Query, Resp> {
    let mut q = Query::default();
    for (k, v) in &req.query {
        let lk = k.to_ascii_lowercase();
        if !lk.starts_with('$') {
            continue; // Graph ignores unknown non-$ parameters
        }
        if !KNOWN.contains(&lk.as_str()) {
            return Err(errors::graph(
                400,
                "BadRequest",
                &format!(
                    "Query option '{k}' is not allowed. Unrecognized query argument specified: '{k}'."
                ),
            ));
        }
        match lk.as_str() {
            "$select" => {
                let list: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.is_empty() {
                    return Err(errors::bad_request(
                        "Invalid $select: the query option must not be empty.",
                    ));
                }
                q.select = Some(list);
            }
            "$top" => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => q.top = Some(n as usize),
                _ => {
                    return Err(errors::bad_request(&format!(
                        "Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."
                    )));
                }
            },
            "$filter" => {
                let e = Parser::new(v)
                    .parse()
                    .map_err(|m| errors::bad_request(&format!("Invalid filter clause: {m}")))?;
                q.filter = Some(e);
                q.filter_text = Some(v.clone());
            }
            "$count" => match v.as_str() {
                "true" => q.count = true,
                "false" => q.count = false,
                _ => {
                    return Err(errors::bad_request(&format!(
                        "Invalid value '{v}' for $count: must be true or false."
                    )));
                }
            },
            "$skiptoken" => q.skiptoken = Some(v.clone()),
            "$deltatoken" => q.deltatoken = Some(v.clone()),
            "$orderby" => q.orderby = Some(v.clone()),
            "$search" => q.search = Some(v.clone()),
            "$expand" => q.expand = Some(v.clone()),
            "$skip" => {
                return Err(errors::graph(
                    400,
                    "Request_BadRequest",
                    "'$skip' is not supported by the service.",
                ));
            }
            _ => {}
        }
    }
    Ok(q)
}

/// A time bound: (unix ms, inclusive).
pub type Bound = Option<(i64, bool)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, Op, Lit),
    /// startswith / endswith(prop, 'x')
    Func(String, String, Lit),
    /// prop in ('a','b')
    In(String, Vec<Lit>),
}

impl Expr {
    /// Properties referenced (for validation).
    pub fn props(&self, out: &mut Vec<String>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.props(out);
                b.props(out);
            }
            Expr::Not(a) => a.props(out),
            Expr::Cmp(p, ..) | Expr::Func(_, p, _) | Expr::In(p, _) => out.push(p.clone()),
        }
    }
    /// Operators that Graph only allows as advanced queries on directory objects.
    pub fn needs_advanced(&self) -> bool {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.needs_advanced() || b.needs_advanced(),
            Expr::Not(_) => true,
            Expr::Cmp(_, Op::Ne, _) => true,
            Expr::Func(f, ..) => f == "endswith",
            _ => false,
        }
    }
    pub fn eval(&self, o: &serde_json::Map<String, Value>) -> bool {
        self.eval_item(None, o)
    }
    /// Evaluate against an object whose `id` is kept outside its property map.
    pub fn eval_item(&self, id: Option<&str>, o: &serde_json::Map<String, Value>) -> bool {
        let idv = id.map(|i| Value::String(i.to_string()));
        let get = |p: &str| {
            if p.eq_ignore_ascii_case("id") && idv.is_some() {
                idv.as_ref()
            } else {
                lookup(o, p)
            }
        };
        match self {
            Expr::And(a, b) => a.eval_item(id, o) && b.eval_item(id, o),
            Expr::Or(a, b) => a.eval_item(id, o) || b.eval_item(id, o),
            Expr::Not(a) => !a.eval_item(id, o),
            Expr::Cmp(p, op, lit) => cmp(get(p), *op, lit),
            Expr::Func(f, p, lit) => {
                let (Some(Value::String(s)), Lit::Str(x)) = (get(p), lit) else {
                    return false;
                };
                let (s, x) = (s.to_lowercase(), x.to_lowercase());
                match f.as_str() {
                    "startswith" => s.starts_with(&x),
                    "endswith" => s.ends_with(&x),
                    "contains" => s.contains(&x),
                    _ => false,
                }
            }
            Expr::In(p, lits) => lits.iter().any(|l| cmp(get(p), Op::Eq, l)),
        }
    }
    /// Bounds on a timestamp property from a top-level conjunction: ((ms, inclusive), (ms, inclusive)).
    pub fn time_bounds(&self, prop: &str) -> (Bound, Bound) {
        let mut lo: Option<(i64, bool)> = None;
        let mut hi: Option<(i64, bool)> = None;
        fn walk(e: &Expr, prop: &str, lo: &mut Option<(i64, bool)>, hi: &mut Option<(i64, bool)>) {
            match e {
                Expr::And(a, b) => {
                    walk(a, prop, lo, hi);
                    walk(b, prop, lo, hi);
                }
                Expr::Cmp(p, op, Lit::Time(t)) if p.eq_ignore_ascii_case(prop) => {
                    let ms = t.timestamp_millis();
                    match op {
                        Op::Ge => {
                            *lo = Some(
                                lo.map_or((ms, true), |l| if ms > l.0 { (ms, true) } else { l }),
                            )
                        }
                        Op::Gt => {
                            *lo =
                                Some(lo.map_or((ms, false), |l| {
                                    if ms >= l.0 { (ms, false) } else { l }
                                }))
                        }
                        Op::Le => {
                            *hi = Some(
                                hi.map_or((ms, true), |h| if ms < h.0 { (ms, true) } else { h }),
                            )
                        }
                        Op::Lt => {
                            *hi =
                                Some(hi.map_or((ms, false), |h| {
                                    if ms <= h.0 { (ms, false) } else { h }
                                }))
                        }
                        Op::Eq => {
                            *lo = Some((ms, true));
                            *hi = Some((ms, true));
                        }
                        Op::Ne => {}
                    }
                }
                _ => {}
            }
        }
        walk(self, prop, &mut lo, &mut hi);
        (lo, hi)
    }
    /// Whether an object meets the top-level conjunction's bounds on a timestamp property, exactly
    /// (to below the millisecond that [`Expr::time_bounds`] works in).
    pub fn time_ok(&self, prop: &str, o: &serde_json::Map<String, Value>) -> bool {
        match self {
            Expr::And(a, b) => a.time_ok(prop, o) && b.time_ok(prop, o),
            Expr::Cmp(p, op, lit @ Lit::Time(_)) if p.eq_ignore_ascii_case(prop) => {
                cmp(lookup(o, p), *op, lit)
            }
            _ => true,
        }
    }
    /// Value of `prop eq 'x'` in a top-level conjunction.
    pub fn eq_value(&self, prop: &str) -> Option<String> {
        match self {
            Expr::And(a, b) => a.eq_value(prop).or_else(|| b.eq_value(prop)),
            Expr::Cmp(p, Op::Eq, Lit::Str(s)) if p.eq_ignore_ascii_case(prop) => Some(s.clone()),
            _ => None,
        }
    }
}

/// How a directory property may be filtered, from the v1.0 resource pages' "Supports `$filter` (…)"
/// notes: `eq, ne, not, in` (and `eq null`); those plus ranges; those plus `startsWith`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Indexed {
    Eq,
    Range,
    Text,
}

/// The filterable (indexed) properties of the directory resources whose pages document them all;
/// filtering on any other property of these is `Request_UnsupportedQuery`. Collections filtered only
/// through lambdas (`proxyAddresses/any(…)`) are absent: the fake parses no lambdas.
fn indexed(resource: &str) -> Option<&'static [(&'static str, Indexed)]> {
    use Indexed::*;
    Some(match resource {
        "user" => &[
            ("id", Eq),
            ("accountEnabled", Eq),
            ("ageGroup", Eq),
            ("city", Text),
            ("companyName", Text),
            ("consentProvidedForMinor", Eq),
            ("country", Text),
            ("createdDateTime", Range),
            ("creationType", Eq),
            ("department", Text),
            ("displayName", Text),
            ("employeeHireDate", Range),
            ("employeeId", Text),
            ("employeeLeaveDateTime", Range),
            ("employeeOrgData", Range),
            ("employeeType", Text),
            ("externalUserState", Eq),
            ("externalUserStateChangeDateTime", Range),
            ("faxNumber", Text),
            ("givenName", Text),
            ("jobTitle", Text),
            ("lastPasswordChangeDateTime", Range),
            ("legalAgeGroupClassification", Eq),
            ("mail", Text),
            ("mailNickname", Text),
            ("mobilePhone", Text),
            ("officeLocation", Text),
            ("onPremisesExtensionAttributes", Text),
            ("onPremisesImmutableId", Range),
            ("onPremisesLastSyncDateTime", Range),
            ("onPremisesSamAccountName", Text),
            ("onPremisesSecurityIdentifier", Eq),
            ("onPremisesSyncEnabled", Eq),
            ("onPremisesUserPrincipalName", Text),
            ("passwordPolicies", Eq),
            ("postalCode", Text),
            ("preferredLanguage", Text),
            ("securityIdentifier", Text),
            ("showInAddressList", Eq),
            ("signInActivity", Range),
            ("state", Text),
            ("streetAddress", Text),
            ("surname", Text),
            ("usageLocation", Text),
            ("userPrincipalName", Text),
            ("userType", Eq),
        ],
        "group" => &[
            ("id", Eq),
            ("classification", Text),
            ("createdDateTime", Range),
            ("description", Text),
            ("displayName", Text),
            ("expirationDateTime", Range),
            ("hasMembersWithLicenseErrors", Eq),
            ("isAssignableToRole", Eq),
            ("mail", Text),
            ("mailEnabled", Eq),
            ("mailNickname", Text),
            ("membershipRule", Text),
            ("membershipRuleProcessingState", Eq),
            ("onPremisesLastSyncDateTime", Range),
            ("onPremisesSamAccountName", Text),
            ("onPremisesSecurityIdentifier", Eq),
            ("onPremisesSyncEnabled", Eq),
            ("preferredLanguage", Text),
            ("renewedDateTime", Range),
            ("securityEnabled", Eq),
            ("securityIdentifier", Text),
            ("visibility", Eq),
        ],
        "application" => &[
            ("id", Eq),
            ("appId", Eq),
            ("createdDateTime", Range),
            ("description", Text),
            ("disabledByMicrosoftStatus", Eq),
            ("displayName", Text),
            ("isFallbackPublicClient", Eq),
            ("publisherDomain", Text),
            ("serviceManagementReference", Text),
            ("signInAudience", Eq),
        ],
        "servicePrincipal" => &[
            ("id", Eq),
            ("accountEnabled", Eq),
            ("appDisplayName", Text),
            ("appId", Eq),
            ("appOwnerOrganizationId", Eq),
            ("appRoleAssignmentRequired", Eq),
            ("description", Text),
            ("disabledByMicrosoftStatus", Eq),
            ("displayName", Text),
            ("preferredSingleSignOnMode", Eq),
            ("publisherName", Text),
            ("servicePrincipalType", Eq),
            ("signInAudience", Eq),
        ],
        "device" => &[
            ("id", Eq),
            ("accountEnabled", Eq),
            ("approximateLastSignInDateTime", Range),
            ("deviceId", Eq),
            ("deviceOwnership", Eq),
            ("deviceVersion", Range),
            ("displayName", Text),
            ("enrollmentType", Eq),
            ("isCompliant", Eq),
            ("isManaged", Eq),
            ("manufacturer", Text),
            ("mdmAppId", Eq),
            ("model", Text),
            ("onPremisesLastSyncDateTime", Range),
            ("onPremisesSyncEnabled", Eq),
            ("operatingSystem", Text),
            ("operatingSystemVersion", Text),
            ("profileType", Eq),
            ("registrationDateTime", Range),
            ("trustType", Eq),
        ],
        _ => return None,
    })
}

impl Expr {
    /// Why a directory `resource` cannot answer this filter (Graph filters only on indexed
    /// properties, each with its documented operators), as Graph's message; None when it can.
    pub fn unsupported_on(&self, resource: &str) -> Option<String> {
        let table = indexed(resource)?;
        let mut uses: Vec<(&str, Option<Indexed>)> = Vec::new();
        self.uses(&mut uses);
        uses.into_iter().find_map(|(prop, needs)| {
            let base = prop.split('/').next().unwrap_or(prop);
            let Some((_, has)) = table.iter().find(|(p, _)| p.eq_ignore_ascii_case(base)) else {
                return Some(format!(
                    "The request uses a filter property that is not indexed: '{prop}' of resource '{resource}'."
                ));
            };
            (needs.is_none_or(|n| n > *has)).then(|| {
                format!(
                    "Unsupported or invalid query filter clause specified for property '{prop}' of resource '{resource}'."
                )
            })
        })
    }
    /// (property, the least `Indexed` class its operator needs; None = no directory property allows it).
    fn uses<'a>(&'a self, out: &mut Vec<(&'a str, Option<Indexed>)>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.uses(out);
                b.uses(out);
            }
            Expr::Not(a) => a.uses(out),
            Expr::Cmp(p, Op::Eq | Op::Ne, _) | Expr::In(p, _) => out.push((p, Some(Indexed::Eq))),
            Expr::Cmp(p, ..) => out.push((p, Some(Indexed::Range))),
            Expr::Func(f, p, _) => out.push((
                p,
                (f == "startswith" || f == "endswith").then_some(Indexed::Text),
            )),
        }
    }
}

fn lookup<'a>(o: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('/');
    let first = parts.next()?;
    let mut v = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(first))
        .map(|(_, v)| v)?;
    for p in parts {
        v = v
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(p))
            .map(|(_, v)| v)?;
    }
    Some(v)
}

fn cmp(v: Option<&Value>, op: Op, lit: &Lit) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (None | Some(Value::Null), Lit::Null) => Some(Ordering::Equal),
        (Some(_), Lit::Null) => return op == Op::Ne,
        (Some(Value::String(s)), Lit::Time(t)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc).cmp(t)),
        (Some(Value::String(s)), Lit::Str(x)) => Some(s.to_lowercase().cmp(&x.to_lowercase())),
        (Some(Value::Number(n)), Lit::Num(x)) => n.as_f64().and_then(|n| n.partial_cmp(x)),
        (Some(Value::Bool(b)), Lit::Bool(x)) => Some(b.cmp(x)),
        _ => None,
    };
    match ord {
        None => op == Op::Ne && !matches!(v, Some(Value::Array(_))),
        Some(o) => match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
        },
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser { s, pos: 0 }
    }
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s.as_bytes()[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> String {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len() {
            let c = self.s.as_bytes()[self.pos];
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'/' | b'.' | b'-' | b':' | b'+') {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.s[start..self.pos].to_string()
    }
    fn parse(mut self) -> Result<Expr, String> {
        let e = self.or()?;
        self.ws();
        if self.pos != self.s.len() {
            return Err(format!(
                "syntax error at position {} in '{}'.",
                self.pos, self.s
            ));
        }
        Ok(e)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        loop {
            let save = self.pos;
            self.ws();
            let w = self.word();
            if w.eq_ignore_ascii_case("or") {
                let r = self.and()?;
                l = Expr::Or(Box::new(l), Box::new(r));
            } else {
                self.pos = save;
                return Ok(l);
            }
        }
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        loop {
            let save = self.pos;
            let w = self.word();
            if w.eq_ignore_ascii_case("and") {
                let r = self.unary()?;
                l = Expr::And(Box::new(l), Box::new(r));
            } else {
                self.pos = save;
                return Ok(l);
            }
        }
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err("missing ')'.".into());
            }
            return Ok(e);
        }
        let save = self.pos;
        let w = self.word();
        if w.eq_ignore_ascii_case("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        let lw = w.to_ascii_lowercase();
        if matches!(lw.as_str(), "startswith" | "endswith" | "contains") && self.eat("(") {
            let prop = self.word();
            if !self.eat(",") {
                return Err(format!("expected ',' in {w}()."));
            }
            let lit = self.literal()?;
            if !self.eat(")") {
                return Err(format!("missing ')' in {w}()."));
            }
            return Ok(Expr::Func(lw, prop, lit));
        }
        if w.is_empty() {
            self.pos = save;
            return Err(format!(
                "syntax error at position {} in '{}'.",
                self.pos, self.s
            ));
        }
        let op = self.word().to_ascii_lowercase();
        if op == "in" {
            if !self.eat("(") {
                return Err("expected '(' after in.".into());
            }
            let mut lits = vec![self.literal()?];
            while self.eat(",") {
                lits.push(self.literal()?);
            }
            if !self.eat(")") {
                return Err("missing ')' after in list.".into());
            }
            return Ok(Expr::In(w, lits));
        }
        let op = match op.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(format!("unsupported operator '{other}' after '{w}'.")),
        };
        let lit = self.literal()?;
        Ok(Expr::Cmp(w, op, lit))
    }
    fn literal(&mut self) -> Result<Lit, String> {
        self.ws();
        // enum literal: microsoft.graph.riskLevel'medium'
        let save = self.pos;
        if !self.rest().starts_with('\'') {
            let w = self.word();
            if self.rest().starts_with('\'') && w.contains('.') {
                // fallthrough to the quoted string
            } else {
                let lw = w.to_ascii_lowercase();
                return match lw.as_str() {
                    "true" => Ok(Lit::Bool(true)),
                    "false" => Ok(Lit::Bool(false)),
                    "null" => Ok(Lit::Null),
                    _ => {
                        if let Ok(t) = DateTime::parse_from_rfc3339(&w) {
                            Ok(Lit::Time(t.with_timezone(&Utc)))
                        } else if let Ok(n) = w.parse::<f64>() {
                            Ok(Lit::Num(n))
                        } else if uuid::Uuid::parse_str(&w).is_ok() {
                            Ok(Lit::Str(w))
                        } else {
                            self.pos = save;
                            Err(format!("invalid literal '{w}'."))
                        }
                    }
                };
            }
        }
        if !self.eat("'") {
            return Err("expected a quoted string.".into());
        }
        let mut out = String::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err("unterminated string literal.".into());
            };
            self.pos += c.len_utf8();
            if c == '\'' {
                if self.rest().starts_with('\'') {
                    self.pos += 1;
                    out.push('\'');
                } else {
                    break;
                }
            } else {
                out.push(c);
            }
        }
        Ok(Lit::Str(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters() {
        let e = Parser::new(
            "createdDateTime ge 2024-01-01T00:00:00Z and createdDateTime lt 2024-01-02T00:00:00Z",
        )
        .parse()
        .unwrap();
        let (lo, hi) = e.time_bounds("createdDateTime");
        assert!(lo.unwrap().1 && !hi.unwrap().1);
        let o = json!({"createdDateTime": "2024-01-01T10:00:00Z", "groupId": "abc"});
        assert!(e.eval(o.as_object().unwrap()));
        let e = Parser::new("groupId eq 'abc'").parse().unwrap();
        assert_eq!(e.eq_value("groupId").as_deref(), Some("abc"));
        let e = Parser::new("riskLevel eq microsoft.graph.riskLevel'medium'")
            .parse()
            .unwrap();
        assert_eq!(
            e,
            Expr::Cmp("riskLevel".into(), Op::Eq, Lit::Str("medium".into()))
        );
        assert!(
            Parser::new("startswith(displayName,'a') or (x eq 1)")
                .parse()
                .is_ok()
        );
        assert!(Parser::new("displayName eq").parse().is_err());
    }
}
