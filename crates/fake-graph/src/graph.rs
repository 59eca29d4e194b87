//! The Graph request pipeline: version prefix, bearer, route, permission, licence, query options,
//! throttling, then the handler for the route's kind.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{self, Caller};
use crate::errors;
use crate::odata::{self, Query};
use crate::routes::{self, Kind, Lic, Route};
use crate::schema::Schema;
use crate::state::{Req, Resp, State};
use crate::tenant::logs::LogKind;
use crate::tenant::{Item, Tenant};
use crate::throttle::Class;
use crate::token;

/// Default `/users` property set (reference §2), in Graph's output order.
pub const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];
/// Properties Graph returns only on a single-object GET (`/users/{id}`), never in a list.
pub const USER_SINGLE_ONLY: &[&str] = &[
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
    "mailboxSettings",
];
/// Types a directoryObject relationship may hold.
const DIR_TYPES: &[&str] = &[
    "user",
    "group",
    "servicePrincipal",
    "device",
    "orgContact",
    "application",
];

/// Position inside a paged listing (sealed into `$skiptoken`).
#[derive(Debug, Serialize, Deserialize)]
pub struct PageTok {
    /// route pattern
    pub r: String,
    /// last sequence number / offset / log index
    pub p: u64,
    /// page-token epoch at issue
    pub e: u64,
    /// issued at (unix seconds)
    pub t: u64,
    /// parent id (relationships)
    #[serde(default)]
    pub id: Option<String>,
}

pub struct Ctx<'a> {
    pub state: &'a State,
    pub req: &'a Req,
    pub route: &'static Route,
    pub id: Option<String>,
    pub q: Query,
    pub version: &'static str,
    pub caller: Caller,
}

/// Handle one Graph request (HTTP or `$batch` item).
pub fn handle(state: &State, req: &Req) -> Resp {
    let mut resp = handle_inner(state, req);
    errors::echo_client_request_id(&mut resp, req);
    if resp.get_header("request-id").is_none() {
        resp.headers
            .push(("request-id".into(), uuid::Uuid::new_v4().to_string()));
    }
    resp.headers.push(("odata-version".into(), "4.0".into()));
    resp
}

/// (`v1.0` | `beta`, the path after the version without leading or trailing `/`).
fn split_version(path: &str) -> Option<(&'static str, &str)> {
    let path = path.trim_end_matches('/');
    let (version, rest) = if let Some(r) = path.strip_prefix("/v1.0") {
        ("v1.0", r)
    } else {
        ("beta", path.strip_prefix("/beta")?)
    };
    Some((version, rest.trim_start_matches('/')))
}

/// The `x-ms-throttle-scope` / `x-ms-throttle-information` a 429 to this request carries, so that an
/// injected 429 reads like a natural one; None when the request names no route or no valid caller.
pub fn throttle_detail(state: &State, req: &Req) -> Option<(String, &'static str)> {
    let (_, rest) = split_version(&req.path)?;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let class = routes::find(&segs).map_or(Class::Identity, |(r, _)| r.class);
    let caller = auth::check_bearer(state, req).ok()?;
    let tenant = state.tenant.read().unwrap().id.clone();
    Some(crate::throttle::detail(class, &caller.app_id, &tenant))
}

fn handle_inner(state: &State, req: &Req) -> Resp {
    let Some((version, rest)) = split_version(&req.path) else {
        let seg = req
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        return errors::graph(400, "BadRequest", &format!("Invalid version: {seg}"));
    };
    if rest == "$batch" {
        if req.method != "POST" {
            return errors::graph(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            );
        }
        return crate::batch::handle(state, req, version);
    }
    let caller = match auth::check_bearer(state, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // `/users/$count`: the collection's size as plain text (an advanced query)
    let count_segment = segs.len() > 1 && segs.last() == Some(&"$count");
    if count_segment {
        segs.pop();
    }
    let role_id = match role_by_template(state, &segs) {
        Ok(id) => id,
        Err(r) => return r,
    };
    if let Some(id) = &role_id {
        segs.splice(0..1, ["directoryRoles", id.as_str()]);
    }
    let Some((route, id)) = routes::find(&segs) else {
        let bad = segs
            .iter()
            .rev()
            .find(|s| !s.is_empty())
            .copied()
            .unwrap_or("");
        return errors::unknown_segment(bad);
    };
    if count_segment {
        if !matches!(
            route.kind,
            Kind::List(_)
                | Kind::Rel(..)
                | Kind::Transitive
                | Kind::MemberOf { .. }
                | Kind::Holders(..)
                | Kind::Child(..)
        ) {
            return errors::unknown_segment("$count");
        }
        // documented for directory objects only, and only as an advanced query
        let eventual = req
            .header("consistencylevel")
            .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
        if route.class != Class::Identity || !eventual {
            return errors::graph(
                400,
                "Request_BadRequest",
                "$count is not currently supported.",
            );
        }
    }
    if req.method != "GET" {
        return errors::graph(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        );
    }
    if !caller.has_any(route.perms) {
        return errors::denied();
    }
    let lic = state.licences();
    let licensed = match route.lic {
        Lic::None => true,
        Lic::P1 => lic.p1 || lic.p2,
        Lic::P2 | Lic::Pim => lic.p2,
        Lic::Intune => lic.intune,
    };
    if !licensed {
        return match route.lic {
            Lic::Pim => errors::graph(
                403,
                "AadPremiumLicenseRequired",
                "The tenant needs an AAD Premium 2 license to use Privileged Identity Management.",
            ),
            Lic::Intune => errors::graph(
                403,
                "Forbidden",
                "Request not applicable to target tenant: the tenant has no Intune license.",
            ),
            _ => errors::non_premium(),
        };
    }
    // sign-ins also need Directory.Read.All (reference §6)
    if route.kind == Kind::Log(LogKind::SignIn) && !caller.has_any(&["Directory.Read.All"]) {
        return errors::denied();
    }
    let mut q = match odata::parse(req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    q.count |= count_segment;
    let ctx = Ctx {
        state,
        req,
        route,
        id,
        q,
        version,
        caller,
    };
    if let Err(r) = validate(&ctx) {
        return r;
    }
    // throttling before doing the work
    let cost = ru_cost(&ctx);
    let mut ratio = 0.0;
    if state.throttling.load(Ordering::Relaxed) {
        let (tid, users) = {
            let t = state.tenant.read().unwrap();
            (t.id.clone(), t.user_count_at_start)
        };
        let v = state.throttle.lock().unwrap().check(
            &ctx.caller.app_id,
            &tid,
            route.class,
            cost as u64,
            users,
        );
        if let Some(ra) = v.throttled {
            let mut r = errors::throttled(ra, &v.scope, v.info);
            r.ru = 0;
            return r;
        }
        ratio = v.used_ratio;
    }
    let mut resp = match route.kind {
        Kind::List(coll) => list(&ctx, coll),
        Kind::Entity(coll) => entity(&ctx, coll),
        Kind::Delta(coll) => crate::delta::handle(&ctx, coll),
        Kind::Rel(coll, rel) => relationship(&ctx, coll, rel),
        Kind::Transitive => transitive(&ctx),
        Kind::MemberOf { transitive } => member_of(&ctx, transitive),
        Kind::Holders(colls, rel) => holders(&ctx, colls, rel),
        Kind::Child(coll, by_resource) => children(&ctx, coll, by_resource),
        Kind::GroupLifecycle => group_lifecycle(&ctx),
        Kind::Singleton(name) => singleton(&ctx, name),
        Kind::Log(kind) => logs(&ctx, kind),
        Kind::PimGroup(coll) => list(&ctx, coll),
    };
    if count_segment && resp.status < 400 {
        resp = count_text(resp);
    }
    if route.class == Class::Identity && resp.status < 400 {
        resp.ru = cost;
        resp.headers
            .push(("x-ms-resource-unit".into(), cost.to_string()));
        if ratio > 0.8 {
            resp.headers.push((
                "x-ms-throttle-limit-percentage".into(),
                format!("{:.1}", ratio.min(1.8)),
            ));
        }
    }
    resp
}

/// `/directoryRoles(roleTemplateId='…')[/…]` addresses the activated role of a template: the role's id
/// (None when the path does not use that form), or 404 when no role of that template is activated.
fn role_by_template(state: &State, segs: &[&str]) -> Result<Option<String>, Resp> {
    let Some(first) = segs.first() else {
        return Ok(None);
    };
    let Some(key) = first
        .get(..15)
        .filter(|p| p.eq_ignore_ascii_case("directoryRoles("))
        .and_then(|_| first[15..].strip_suffix(')'))
    else {
        return Ok(None);
    };
    let template = key
        .split_once('=')
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("roleTemplateId"))
        .and_then(|(_, v)| v.trim().strip_prefix('\'')?.strip_suffix('\''));
    let Some(template) = template else {
        return Err(errors::bad_request(&format!(
            "Invalid key '{key}' for directoryRoles: address a role by id or as directoryRoles(roleTemplateId='{{template id}}')."
        )));
    };
    let t = state.tenant.read().unwrap();
    t.coll("directoryRoles")
        .items
        .values()
        .find(|r| {
            r.str("roleTemplateId")
                .is_some_and(|x| x.eq_ignore_ascii_case(template))
        })
        .map(|r| Some(r.id.clone()))
        .ok_or_else(|| errors::not_found_resource(&format!("roleTemplateId={template}")))
}

/// The `$count` segment's answer: the collection's `@odata.count` as `text/plain`.
fn count_text(resp: Resp) -> Resp {
    let count = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v["@odata.count"].as_u64())
        .unwrap_or(0);
    let mut r = Resp::bytes(200, count.to_string().into_bytes());
    r.headers = vec![("content-type".into(), "text/plain".into())];
    r.items = 1;
    r
}

/// Resource-unit cost with Graph's modifiers ($select −1, $expand +1, $top < 20 −1, min 1).
fn ru_cost(ctx: &Ctx) -> u32 {
    let mut c = ctx.route.cost as i64;
    if ctx.q.select.is_some() {
        c -= 1;
    }
    if ctx.q.expand.is_some() {
        c += 1;
    }
    if ctx.q.top.is_some_and(|t| t < 20) {
        c -= 1;
    }
    c.max(1) as u32
}

fn eventual(ctx: &Ctx) -> bool {
    ctx.req
        .header("consistencylevel")
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
}

/// Schema resource of a collection key.
pub fn resource_of(t: &Tenant, coll: &str) -> &'static str {
    t.coll(coll).resource
}

fn route_resources(t: &Tenant, route: &Route) -> Vec<&'static str> {
    match route.kind {
        Kind::List(c)
        | Kind::Entity(c)
        | Kind::Delta(c)
        | Kind::Child(c, _)
        | Kind::PimGroup(c) => {
            let r = resource_of(t, c);
            if r == "namedLocation" {
                vec![r, "ipNamedLocation", "countryNamedLocation"]
            } else {
                vec![r]
            }
        }
        Kind::Rel(..) | Kind::Transitive | Kind::MemberOf { .. } | Kind::Holders(..) => {
            DIR_TYPES.to_vec()
        }
        Kind::GroupLifecycle => vec!["groupLifecyclePolicy"],
        Kind::Singleton(n) => vec![n],
        Kind::Log(LogKind::SignIn) => vec!["signIn"],
        Kind::Log(LogKind::Audit) => vec!["directoryAudit"],
    }
}

fn validate(ctx: &Ctx) -> Result<(), Resp> {
    let t = ctx.state.tenant.read().unwrap();
    let schema = Schema::get();
    let resources = route_resources(&t, ctx.route);
    let known = |p: &str| {
        let base = p.split('/').next().unwrap_or(p);
        base == "id" || base == "@odata.type" || resources.iter().any(|r| schema.has_prop(r, base))
    };
    let ty = resources[0];
    let is_delta = matches!(ctx.route.kind, Kind::Delta(_));
    if let Some(sel) = &ctx.q.select {
        for p in sel {
            let rel_ok = is_delta
                && ((ty == "group" || ty == "directoryRole" || ty == "administrativeUnit")
                    && p == "members"
                    || ty == "group" && p == "owners"
                    || ty == "user" && p == "manager");
            if !known(p) && !rel_ok {
                return Err(errors::bad_request(&format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.{ty}'."
                )));
            }
            if ty == "user"
                && matches!(ctx.route.kind, Kind::List(_) | Kind::Delta(_))
                && USER_SINGLE_ONLY.contains(&p.as_str())
            {
                return Err(errors::graph(
                    501,
                    "NotImplemented",
                    "This operation target is not yet supported.",
                ));
            }
            if p == "signInActivity" {
                let lic = ctx.state.licences();
                if !(lic.p1 || lic.p2) {
                    return Err(errors::non_premium());
                }
                if !ctx.caller.has_any(&["AuditLog.Read.All"]) {
                    return Err(errors::denied());
                }
            }
        }
    }
    if let Some(f) = &ctx.q.filter {
        let mut props = Vec::new();
        f.props(&mut props);
        for p in props {
            if !known(&p) {
                return Err(errors::bad_request(&format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.{ty}'."
                )));
            }
        }
        if matches!(ctx.route.kind, Kind::List(_))
            && let Some(message) = f.unsupported_on(ty)
        {
            return Err(errors::graph(400, "Request_UnsupportedQuery", &message));
        }
        let directory = ctx.route.class == Class::Identity;
        if directory && f.needs_advanced() && !(eventual(ctx) && ctx.q.count) {
            return Err(errors::graph(
                400,
                "Request_UnsupportedQuery",
                "Unsupported Query.",
            ));
        }
    }
    if ctx.q.search.is_some() && !eventual(ctx) {
        return Err(errors::graph(
            400,
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    if let Some(top) = ctx.q.top {
        let mut max = ctx.route.top.1;
        if ty == "user"
            && ctx
                .q
                .select
                .as_ref()
                .is_some_and(|s| s.iter().any(|p| p == "signInActivity"))
        {
            max = 500;
        }
        if is_delta && matches!(ty, "user" | "group") {
            return Err(errors::bad_request(
                "The $top query option is not supported on delta queries of users and groups.",
            ));
        }
        if max > 0 && top > max {
            return Err(errors::bad_request(&format!(
                "Invalid page size specified: '{top}'. Must be between 1 and {max} inclusive."
            )));
        }
    }
    if let Some(e) = &ctx.q.expand {
        let ok = matches!(ctx.route.kind, Kind::List(_) | Kind::Entity(_))
            && matches!(
                ty,
                "group"
                    | "application"
                    | "servicePrincipal"
                    | "device"
                    | "directoryRole"
                    | "administrativeUnit"
            )
            && matches!(
                e.as_str(),
                "members" | "owners" | "registeredOwners" | "registeredUsers"
            );
        if !ok {
            return Err(errors::bad_request(&format!(
                "Could not find a navigation property named '{e}' on type 'microsoft.graph.{ty}'."
            )));
        }
    }
    Ok(())
}

/// A projected object that borrows the stored values: serialised straight to the response
/// without cloning the tenant's JSON (allocation dominated the serving profile).
pub struct Proj<'a>(pub Vec<(Cow<'a, str>, Cow<'a, Value>)>);

impl Serialize for Proj<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v.as_ref())?;
        }
        m.end()
    }
}

impl Proj<'_> {
    fn set(&mut self, k: &str, v: Value) {
        match self.0.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = Cow::Owned(v),
            None => self.0.push((Cow::Owned(k.to_string()), Cow::Owned(v))),
        }
    }
}

const NULL: Value = Value::Null;

/// Properties to emit for an item: an explicit `$select` or the resource's default set.
pub fn project<'a>(
    t: &Tenant,
    resource: &str,
    item: &'a Item,
    select: Option<&'a [String]>,
    with_type: bool,
    expand: Option<&str>,
) -> Proj<'a> {
    let schema = Schema::get();
    let mut o: Vec<(Cow<'a, str>, Cow<'a, Value>)> = Vec::with_capacity(16);
    let get = |k: &str| -> Cow<'a, Value> {
        item.data
            .get(k)
            .map(Cow::Borrowed)
            .unwrap_or(Cow::Owned(NULL))
    };
    let id = || Cow::Owned(Value::String(item.id.clone()));
    let derived = item
        .str("@odata.type")
        .map(|s| s.trim_start_matches("#microsoft.graph."));
    if let Some(ty) = item.data.get("@odata.type") {
        o.push((Cow::Borrowed("@odata.type"), Cow::Borrowed(ty)));
    } else if with_type {
        o.push((
            Cow::Borrowed("@odata.type"),
            Cow::Owned(json!(format!("#microsoft.graph.{resource}"))),
        ));
    }
    let res = derived
        .filter(|d| schema.resources.contains_key(*d))
        .unwrap_or(resource);
    match select {
        Some(sel) => {
            if !sel.iter().any(|s| s == "id") {
                o.push((Cow::Borrowed("id"), id()));
            }
            for p in sel {
                if p == "id" {
                    o.push((Cow::Borrowed("id"), id()));
                } else if schema.has_prop(res, p) || schema.has_prop(resource, p) {
                    o.push((Cow::Borrowed(p.as_str()), get(p)));
                }
            }
        }
        None if res == "user" => {
            for p in USER_DEFAULT {
                if *p == "id" {
                    o.push((Cow::Borrowed("id"), id()));
                } else {
                    o.push((Cow::Borrowed(*p), get(p)));
                }
            }
        }
        None => {
            let mut has_id = false;
            for p in schema.props(res) {
                if p.name == "id" {
                    has_id = true;
                    o.push((Cow::Borrowed("id"), id()));
                } else if !(resource == "user" && USER_SINGLE_ONLY.contains(&p.name.as_str())) {
                    o.push((Cow::Owned(p.name.clone()), get(&p.name)));
                }
            }
            if !has_id {
                o.push((Cow::Borrowed("id"), id()));
            }
        }
    }
    let mut proj = Proj(o);
    if let Some(rel) = expand {
        let ids = item.rels.get(rel).cloned().unwrap_or_default();
        let v: Vec<Value> = ids
            .iter()
            .filter_map(|id| t.dir_object(id))
            .take(20)
            .map(|(k, it)| json!({"@odata.type": t.odata_type(k, it), "id": it.id, "displayName": it.data.get("displayName").cloned().unwrap_or(Value::Null)}))
            .collect();
        proj.set(rel, Value::Array(v));
    }
    proj
}

pub fn base(ctx: &Ctx) -> String {
    format!("{}/{}", ctx.state.base_url, ctx.version)
}

pub fn context_url(ctx: &Ctx) -> String {
    let mut c = ctx.route.context.to_string();
    if let Some(id) = &ctx.id {
        c = c.replace("{id}", id);
    }
    let sel = ctx.q.select.as_ref().map(|s| format!("({})", s.join(",")));
    match (sel, c.strip_suffix("/$entity")) {
        (Some(s), Some(stem)) => format!("{}/$metadata#{stem}{s}/$entity", base(ctx)),
        (Some(s), None) => format!("{}/$metadata#{c}{s}", base(ctx)),
        (None, _) => format!("{}/$metadata#{c}", base(ctx)),
    }
}

/// The request URL with `$skiptoken` replaced.
pub fn next_link(ctx: &Ctx, param: &str, token: &str) -> String {
    // keep the client's parameters verbatim (Graph echoes `$top`, `$select`... unescaped)
    let mut parts: Vec<String> = ctx
        .req
        .raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let k = crate::state::percent_decode(p.split('=').next().unwrap_or(""))
                .to_ascii_lowercase();
            k != "$skiptoken" && k != "$deltatoken"
        })
        .map(str::to_string)
        .collect();
    parts.push(format!("{param}={token}"));
    format!("{}{}?{}", ctx.state.base_url, ctx.req.path, parts.join("&"))
}

fn page_size(ctx: &Ctx) -> usize {
    let (def, max) = ctx.route.top;
    if max == 0 {
        usize::MAX
    } else {
        ctx.q.top.unwrap_or(def).min(max)
    }
}

fn issue_page_token(ctx: &Ctx, p: u64, id: Option<String>) -> String {
    let tok = PageTok {
        r: ctx.route.pattern.to_string(),
        p,
        e: ctx.state.page_epoch.load(Ordering::Relaxed),
        t: auth::now_secs(),
        id,
    };
    token::seal(&ctx.state.key, ctx.state.next_rand(), &tok)
}

fn open_page_token(ctx: &Ctx) -> Result<Option<u64>, Resp> {
    let Some(raw) = &ctx.q.skiptoken else {
        return Ok(None);
    };
    let Some(tok) = token::open::<PageTok>(&ctx.state.key, raw) else {
        return Err(errors::bad_request(
            "Invalid value specified for the $skiptoken query option: the page token is malformed.",
        ));
    };
    if tok.r != ctx.route.pattern || tok.id != ctx.id {
        return Err(errors::bad_request(
            "The page token does not belong to this request.",
        ));
    }
    let expired = tok.e < ctx.state.page_epoch.load(Ordering::Relaxed)
        || auth::now_secs().saturating_sub(tok.t) > ctx.state.config.page_token_lifetime.as_secs();
    if expired {
        return Err(errors::graph(
            400,
            "Directory_ExpiredPageToken",
            "The specified page token value has expired and can no longer be included in your request.",
        ));
    }
    Ok(Some(tok.p))
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    value: Vec<Proj<'a>>,
}

fn collection_body(
    ctx: &Ctx,
    values: Vec<Proj>,
    count: Option<usize>,
    next: Option<String>,
) -> Resp {
    let n = values.len();
    let body = Body {
        context: context_url(ctx),
        count,
        next,
        value: values,
    };
    let mut r = Resp::bytes(200, serde_json::to_vec(&body).unwrap_or_default());
    r.items = n;
    r
}

fn entity_body(ctx: &Ctx, mut p: Proj) -> Resp {
    p.0.insert(
        0,
        (
            Cow::Borrowed("@odata.context"),
            Cow::Owned(json!(context_url(ctx))),
        ),
    );
    let mut r = Resp::bytes(200, serde_json::to_vec(&p).unwrap_or_default());
    r.items = 1;
    r
}

fn list(ctx: &Ctx, coll: &str) -> Resp {
    let after = match open_page_token(ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let t = ctx.state.tenant.read().unwrap();
    let c = t.coll(coll);
    let filter = ctx.q.filter.clone();
    if let Kind::PimGroup(_) = ctx.route.kind {
        let ok = filter.as_ref().is_some_and(|f| {
            f.eq_value("groupId").is_some() || f.eq_value("principalId").is_some()
        });
        if !ok {
            return errors::graph(
                400,
                "BadRequest",
                "The $filter query option must specify groupId or principalId, e.g. $filter=groupId eq '{id}'.",
            );
        }
    }
    let size = page_size(ctx);
    let sel = ctx.q.select.as_deref();
    let with_type = false;
    let search = ctx
        .q
        .search
        .as_deref()
        .map(parse_search)
        .unwrap_or_default();
    let matches = |i: &Item| {
        filter
            .as_ref()
            .is_none_or(|f| f.eval_item(Some(&i.id), &i.data))
            && search.iter().all(|(p, needle)| {
                i.data
                    .get(p)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.to_lowercase().contains(needle))
            })
    };
    let count = if ctx.q.count && eventual(ctx) && after.is_none() {
        Some(c.items.values().filter(|i| matches(i)).count())
    } else {
        None
    };
    let mut values = Vec::new();
    let mut last = 0;
    let mut more = false;
    let start = after.map(|a| a + 1).unwrap_or(0);
    for (seq, item) in c.items.range(start..) {
        if !matches(item) {
            continue;
        }
        if values.len() >= size {
            more = true;
            break;
        }
        values.push(project(
            &t,
            c.resource,
            item,
            sel,
            with_type,
            ctx.q.expand.as_deref(),
        ));
        last = *seq;
    }
    let next = more.then(|| next_link(ctx, "$skiptoken", &issue_page_token(ctx, last, None)));
    collection_body(ctx, values, count, next)
}

/// `$search="displayName:foo" AND "mail:bar"` → [(property, lower-case needle)].
fn parse_search(s: &str) -> Vec<(String, String)> {
    s.split('"')
        .filter_map(|part| part.split_once(':'))
        .map(|(p, v)| (p.trim().to_string(), v.trim().to_lowercase()))
        .collect()
}

fn entity(ctx: &Ctx, coll: &str) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    let c = t.coll(coll);
    let item = c.get(&id).or_else(|| {
        // users can also be addressed by userPrincipalName
        if coll == "users" {
            c.items.values().find(|i| {
                i.str("userPrincipalName")
                    .is_some_and(|u| u.eq_ignore_ascii_case(&id))
            })
        } else {
            None
        }
    });
    let Some(item) = item else {
        return errors::not_found_resource(&id);
    };
    let v = project(
        &t,
        c.resource,
        item,
        ctx.q.select.as_deref(),
        false,
        ctx.q.expand.as_deref(),
    );
    entity_body(ctx, v)
}

fn singleton(ctx: &Ctx, name: &str) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let Some(data) = t.singletons.get(name) else {
        return errors::not_found_resource(name);
    };
    let item = Item::new(
        data.get("id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string(),
        data.clone(),
    );
    let v = project(&t, name, &item, ctx.q.select.as_deref(), false, None);
    entity_body(ctx, v)
}

/// Page over a list of directory-object ids (relationships).
fn dir_objects_page(ctx: &Ctx, t: &Tenant, ids: &[String]) -> Resp {
    let after = match open_page_token(ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let size = page_size(ctx);
    let start = after.map(|a| a as usize).unwrap_or(0);
    let sel = ctx.q.select.as_deref();
    let resolved: Vec<(&'static str, &Item)> =
        ids.iter().filter_map(|id| t.dir_object(id)).collect();
    let count = (ctx.q.count && eventual(ctx) && after.is_none()).then_some(resolved.len());
    let mut values = Vec::new();
    let end = start.saturating_add(size).min(resolved.len());
    for (k, item) in resolved.get(start..end).unwrap_or(&[]) {
        let res = t.coll(k).resource;
        if let Some(f) = &ctx.q.filter
            && !f.eval_item(Some(&item.id), &item.data)
        {
            continue;
        }
        values.push(project(t, res, item, sel, true, None));
    }
    let next = (end < resolved.len()).then(|| {
        next_link(
            ctx,
            "$skiptoken",
            &issue_page_token(ctx, end as u64, ctx.id.clone()),
        )
    });
    collection_body(ctx, values, count, next)
}

fn relationship(ctx: &Ctx, coll: &str, rel: &str) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    let Some(parent) = t.coll(coll).get(&id) else {
        return errors::not_found_resource(&id);
    };
    let ids = parent.rels.get(rel).cloned().unwrap_or_default();
    dir_objects_page(ctx, &t, &ids)
}

pub fn transitive_ids(t: &Tenant, group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = VecDeque::from([group.to_string()]);
    seen.insert(group.to_string());
    while let Some(g) = queue.pop_front() {
        let Some(item) = t.coll("groups").get(&g) else {
            continue;
        };
        for m in item
            .rels
            .get("members")
            .map(|v| v.as_slice())
            .unwrap_or(&[])
        {
            if seen.insert(m.clone()) {
                out.push(m.clone());
                if t.kinds.get(m) == Some(&"groups") {
                    queue.push_back(m.clone());
                }
            }
        }
    }
    out
}

fn transitive(ctx: &Ctx) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    if t.coll("groups").get(&id).is_none() {
        return errors::not_found_resource(&id);
    }
    let ids = transitive_ids(&t, &id);
    dir_objects_page(ctx, &t, &ids)
}

/// `memberOf`: the groups, directory roles and administrative units whose members include the
/// object; `transitiveMemberOf` (groups only here): the groups that contain it at any depth.
fn member_of(ctx: &Ctx, transitive: bool) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    if t.dir_object(&id).is_none() {
        return errors::not_found_resource(&id);
    }
    let containers: &[&str] = if transitive {
        &["groups"]
    } else {
        &["groups", "directoryRoles", "administrativeUnits"]
    };
    let direct = |member: &str| -> Vec<String> {
        containers
            .iter()
            .flat_map(|c| t.coll(c).items.values())
            .filter(|i| {
                i.rels
                    .get("members")
                    .is_some_and(|m| m.iter().any(|x| x == member))
            })
            .map(|i| i.id.clone())
            .collect()
    };
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([id.clone()]);
    let mut queue = VecDeque::from([id.clone()]);
    while let Some(member) = queue.pop_front() {
        for container in direct(&member) {
            if seen.insert(container.clone()) {
                out.push(container.clone());
                if transitive {
                    queue.push_back(container);
                }
            }
        }
    }
    dir_objects_page(ctx, &t, &out)
}

/// The objects of `colls` whose relationship `rel` lists `{id}` (`ownedObjects`, `ownedDevices`).
fn holders(ctx: &Ctx, colls: &[&str], rel: &str) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    if t.dir_object(&id).is_none() {
        return errors::not_found_resource(&id);
    }
    let ids: Vec<String> = colls
        .iter()
        .flat_map(|c| t.coll(c).items.values())
        .filter(|i| i.rels.get(rel).is_some_and(|m| m.contains(&id)))
        .map(|i| i.id.clone())
        .collect();
    dir_objects_page(ctx, &t, &ids)
}

fn children(ctx: &Ctx, coll: &str, by_resource: bool) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    if !parent_live(&t, &id) {
        return errors::not_found_resource(&id);
    }
    let c = t.coll(coll);
    let items = served_children(&t, coll, &id, by_resource);
    let after = match open_page_token(ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let size = page_size(ctx);
    let start = after.map(|a| a as usize).unwrap_or(0);
    let end = start.saturating_add(size).min(items.len());
    let values: Vec<Proj> = items
        .get(start..end)
        .unwrap_or(&[])
        .iter()
        .filter(|i| {
            ctx.q
                .filter
                .as_ref()
                .is_none_or(|f| f.eval_item(Some(&i.id), &i.data))
        })
        .map(|i| project(&t, c.resource, i, ctx.q.select.as_deref(), false, None))
        .collect();
    let count = (ctx.q.count && eventual(ctx) && after.is_none()).then_some(items.len());
    let next = (end < items.len()).then(|| {
        next_link(
            ctx,
            "$skiptoken",
            &issue_page_token(ctx, end as u64, ctx.id.clone()),
        )
    });
    collection_body(ctx, values, count, next)
}

/// A live (not deleted) directory object or directory role: the parent of a child endpoint.
pub fn parent_live(t: &Tenant, id: &str) -> bool {
    t.dir_object(id).is_some() || t.coll("directoryRoles").get(id).is_some()
}

/// What `/{parent}/{child collection}` serves: the children of a live parent (by principal, or by
/// resource for `appRoleAssignedTo`); an app role assignment only while both its principal and its
/// resource are live (a soft-deleted principal's assignments come back with it on restore).
pub fn served_children<'t>(
    t: &'t Tenant,
    coll: &str,
    parent: &str,
    by_resource: bool,
) -> Vec<&'t Item> {
    let c = t.coll(coll);
    let items: Vec<&Item> = if by_resource {
        c.granting(parent)
    } else {
        c.children(parent)
    };
    if coll != "appRoleAssignments" {
        return items;
    }
    items
        .into_iter()
        .filter(|i| assignment_served(t, i))
        .collect()
}

/// An app role assignment is served while both its principal and its resource are live.
pub fn assignment_served(t: &Tenant, a: &Item) -> bool {
    ["principalId", "resourceId"]
        .iter()
        .all(|k| a.str(k).is_some_and(|o| parent_live(t, o)))
}

fn group_lifecycle(ctx: &Ctx) -> Resp {
    let t = ctx.state.tenant.read().unwrap();
    let id = ctx.id.clone().unwrap_or_default();
    let Some(g) = t.coll("groups").get(&id) else {
        return errors::not_found_resource(&id);
    };
    let unified = g
        .data
        .get("groupTypes")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "Unified"));
    let c = t.coll("groupLifecyclePolicies");
    let values: Vec<Proj> = if unified {
        c.items
            .values()
            .map(|i| project(&t, c.resource, i, ctx.q.select.as_deref(), false, None))
            .collect()
    } else {
        vec![]
    };
    collection_body(ctx, values, None, None)
}

fn logs(ctx: &Ctx, kind: LogKind) -> Resp {
    let after = match open_page_token(ctx) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let t = ctx.state.tenant.read().unwrap();
    let store = match kind {
        LogKind::SignIn => &t.signins,
        LogKind::Audit => &t.audits,
    };
    let (prop, resource) = match kind {
        LogKind::SignIn => ("createdDateTime", "signIn"),
        LogKind::Audit => ("activityDateTime", "directoryAudit"),
    };
    let asc = ctx
        .q
        .orderby
        .as_deref()
        .is_some_and(|o| o.to_ascii_lowercase().ends_with(" asc"));
    let (lo_b, hi_b) = ctx
        .q
        .filter
        .as_ref()
        .map(|f| f.time_bounds(prop))
        .unwrap_or((None, None));
    // entries carry digits below the millisecond: take whole milliseconds, then drop the edge
    // entries that the exact bounds exclude (one millisecond's entries share one instant)
    let whole_ms = |b: odata::Bound| b.map(|(ms, _)| (ms, true));
    let (mut lo, mut hi) = store.range(whole_ms(lo_b), whole_ms(hi_b));
    if let Some(f) = &ctx.q.filter {
        while lo < hi && !f.time_ok(prop, &store.get(lo)) {
            lo += 1;
        }
        while hi > lo && !f.time_ok(prop, &store.get(hi - 1)) {
            hi -= 1;
        }
    }
    // ingestion delay: entries newer than now − delay are not served yet
    let delay = match kind {
        LogKind::SignIn => &ctx.state.signin_delay_ms,
        LogKind::Audit => &ctx.state.audit_delay_ms,
    }
    .load(Ordering::Relaxed);
    if delay > 0 && store.total() > 0 {
        let visible_to = chrono::Utc::now().timestamp_millis() - delay as i64;
        hi = hi.min(store.range(None, Some((visible_to, true))).1);
    }
    let hi = hi.max(lo);
    let size = page_size(ctx);
    let sel = ctx.q.select.as_deref();
    let mut values = Vec::new();
    let mut more = false;
    let mut last = 0u64;
    // newest first unless `$orderby=... asc`; the token holds the last index served
    let mut idx: Box<dyn Iterator<Item = u64>> = if asc {
        Box::new(after.map(|a| a + 1).unwrap_or(lo).max(lo)..hi)
    } else {
        Box::new((lo..after.unwrap_or(hi).min(hi)).rev())
    };
    let mut page: Vec<Item> = Vec::new();
    for i in idx.by_ref() {
        let o = store.get(i);
        if let Some(f) = &ctx.q.filter
            && !f.eval(&o)
        {
            continue;
        }
        if page.len() >= size {
            more = true;
            break;
        }
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        page.push(Item::new(id, o));
        last = i;
    }
    for item in &page {
        values.push(project(&t, resource, item, sel, false, None));
    }
    let count = (ctx.q.count && after.is_none()).then_some((hi - lo) as usize);
    let next = more.then(|| next_link(ctx, "$skiptoken", &issue_page_token(ctx, last, None)));
    collection_body(ctx, values, count, next)
}
