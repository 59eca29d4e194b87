//! Delta queries (reference §3): an initial round over the current objects (groups carry
//! `members@delta`, and `owners@delta` when `$select` names `owners`; split over pages when large), then rounds of changes since the token's version
//! read from the collection's change log; removals as `@removed`; `$deltatoken=latest`; expired
//! tokens → 400 `syncStateNotFound`; an operator reset → 410 Gone with `Location`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth;
use crate::errors;
use crate::graph::{Ctx, USER_DEFAULT, base};
use crate::schema::Schema;
use crate::state::Resp;
use crate::tenant::{Change, Item, RemovedReason, Tenant};
use crate::token;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeltaTok {
    /// collection key
    pub c: String,
    pub sel: Option<Vec<String>>,
    /// issued at (unix seconds) — tokens live 7 days
    pub t: u64,
    /// Baseline version: changes after it are reported. For a nextLink in the initial round this is
    /// the snapshot version the deltaLink will carry.
    pub v: u64,
    /// Initial round (`true`) or a changes round.
    pub init: bool,
    /// End of the changes window (snapshot taken when the round started).
    pub to: u64,
    /// Initial round: last sequence fully served; changes round: index into the ordered change list.
    pub pos: u64,
    /// Position in the current object's stored relationship lists (when its entries span
    /// pages).
    pub moff: usize,
}

/// The relationships a delta request tracks, in the order their entries are served: `members`
/// (groups, directory roles, administrative units; tracked by default and with `$select=members`)
/// and the groups' `owners` (tracked when `$select` names it, reference §3).
fn tracked_rels(coll: &str, sel: &Option<Vec<String>>) -> Vec<&'static str> {
    let selected = |p: &str| sel.as_ref().is_some_and(|s| s.iter().any(|x| x == p));
    let mut rels = Vec::new();
    if matches!(coll, "groups" | "directoryRoles" | "administrativeUnits")
        && (sel.is_none() || selected("members"))
    {
        rels.push("members");
    }
    if coll == "groups" && selected("owners") {
        rels.push("owners");
    }
    rels
}

/// Relationship properties that `$select` may name on delta but that are not served as properties.
const REL_PROPS: &[&str] = &["members", "owners", "manager"];

/// Live related objects of one relationship: like `/members` and `/owners`, soft-deleted objects
/// keep their place (for a restore) but are not listed.
fn live_related<'a>(t: &Tenant, item: &'a Item, rel: &str) -> Vec<&'a String> {
    item.rels
        .get(rel)
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|m| t.dir_object(m).is_some())
        .collect()
}

/// Put a slice of the combined relationship entries on an object as `<rel>@delta` arrays.
fn put_rel_entries(o: &mut Map<String, Value>, entries: &[(&'static str, Value)]) {
    for (rel, v) in entries {
        let key = format!("{rel}@delta");
        match o.get_mut(&key) {
            Some(Value::Array(a)) => a.push(v.clone()),
            _ => {
                o.insert(key, Value::Array(vec![v.clone()]));
            }
        }
    }
}

/// Full (selected) representation for delta: nulls omitted, `id` always present.
fn full(t: &Tenant, coll: &str, item: &Item, sel: &Option<Vec<String>>) -> Map<String, Value> {
    let schema = Schema::get();
    let resource = t.coll(coll).resource;
    let mut o = Map::new();
    if let Some(ty) = item.str("@odata.type") {
        o.insert("@odata.type".into(), json!(ty));
    }
    let names: Vec<String> = match sel {
        Some(s) => s
            .iter()
            .filter(|p| !REL_PROPS.contains(&p.as_str()))
            .cloned()
            .collect(),
        None if resource == "user" => USER_DEFAULT.iter().map(|s| s.to_string()).collect(),
        None => schema
            .props(resource)
            .iter()
            .map(|p| p.name.clone())
            .collect(),
    };
    for n in names {
        if n == "id" {
            continue;
        }
        if let Some(v) = item.data.get(&n)
            && !v.is_null()
        {
            o.insert(n, v.clone());
        }
    }
    o.insert("id".into(), json!(item.id));
    o
}

fn member_ref(t: &Tenant, id: &str) -> Value {
    let ty = t
        .kinds
        .get(id)
        .map(|k| t.coll(k).resource)
        .unwrap_or("user");
    json!({"@odata.type": format!("#microsoft.graph.{ty}"), "id": id})
}

fn sync_state_not_found() -> Resp {
    errors::graph(
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

pub fn handle(ctx: &Ctx, coll: &str) -> Resp {
    let state = ctx.state;
    let key = &state.key;
    let raw = ctx.q.deltatoken.as_deref().or(ctx.q.skiptoken.as_deref());
    let t = state.tenant.read().unwrap();
    let now_v = t.version;
    let mut tok = match raw {
        None => DeltaTok {
            c: coll.into(),
            sel: ctx.q.select.clone(),
            t: auth::now_secs(),
            v: now_v,
            init: true,
            to: now_v,
            pos: 0,
            moff: 0,
        },
        Some("latest") => {
            let tok = DeltaTok {
                c: coll.into(),
                sel: ctx.q.select.clone(),
                t: auth::now_secs(),
                v: now_v,
                init: false,
                to: now_v,
                pos: 0,
                moff: 0,
            };
            return page(
                ctx,
                &tok,
                vec![],
                None,
                Some(link(
                    ctx,
                    "$deltatoken",
                    &token::seal(key, state.next_rand(), &tok),
                )),
            );
        }
        Some(raw) => match token::open::<DeltaTok>(key, raw) {
            Some(tok) if tok.c == coll => tok,
            _ => {
                return errors::bad_request(
                    "Invalid delta or skip token: the token is malformed or belongs to another resource.",
                );
            }
        },
    };
    // expiry and operator reset apply to tokens from earlier rounds
    if raw.is_some() {
        let reset = state.delta_reset_version.load(Ordering::Relaxed);
        if reset > 0 && tok.v < reset {
            let mut loc = format!(
                "{}/{}/delta",
                base(ctx),
                ctx.route.pattern.trim_end_matches("/delta")
            );
            if let Some(s) = &tok.sel {
                loc.push_str(&format!("?$select={}", s.join(",")));
            }
            return errors::graph(
                410,
                "resyncRequired",
                "The delta token is no longer valid, and the app must reset the sync state.",
            )
            .header("location", loc);
        }
        let age = auth::now_secs().saturating_sub(tok.t);
        if tok.v < state.delta_min_version.load(Ordering::Relaxed)
            || age > state.config.delta_token_lifetime.as_secs()
        {
            return sync_state_not_found();
        }
    }
    if ctx.q.deltatoken.is_some() {
        // a new round of changes since tok.v
        tok = DeltaTok {
            init: false,
            to: now_v,
            pos: 0,
            moff: 0,
            t: tok.t,
            ..tok
        };
    }
    let c = t.coll(coll);
    let max_page = max_page_size(ctx);
    let per_page = max_page.unwrap_or(state.config.delta_page_size).max(1);
    let mchunk = state.config.delta_members_per_page.max(1);
    let rels = tracked_rels(coll, &tok.sel);
    let mut values: Vec<Value> = Vec::new();
    let mut budget = per_page;
    if tok.init {
        let mut cursor = tok.pos;
        let mut moff = tok.moff;
        let mut more = false;
        let start = if moff > 0 { cursor } else { cursor + 1 };
        for (seq, item) in c.items.range(start..) {
            if budget == 0 {
                more = true;
                break;
            }
            let mut o = full(&t, coll, item, &tok.sel);
            let mut split = false;
            if !rels.is_empty() {
                // Members then owners, as one list split over pages when long. `moff` is a
                // position in the stored lists (dead entries included), so a page costs its own
                // entries, not the whole list's.
                let mut live = rels
                    .iter()
                    .flat_map(|r| {
                        item.rels
                            .get(r)
                            .map_or(&[][..], Vec::as_slice)
                            .iter()
                            .map(move |m| (*r, m))
                    })
                    .enumerate()
                    .skip(moff)
                    .filter(|(_, (_, m))| t.dir_object(m).is_some());
                let refs: Vec<(&'static str, Value)> = live
                    .by_ref()
                    .take(mchunk)
                    .map(|(at, (r, m))| {
                        moff = at + 1;
                        (r, member_ref(&t, m))
                    })
                    .collect();
                put_rel_entries(&mut o, &refs);
                if refs.len() == mchunk && live.next().is_some() {
                    // the rest of this group's members continue on the next page
                    split = true;
                } else {
                    moff = 0;
                }
            }
            values.push(Value::Object(o));
            budget -= 1;
            if split {
                cursor = *seq;
                more = true;
                break;
            }
            cursor = *seq;
            moff = 0;
        }
        if more {
            let next = DeltaTok {
                pos: cursor,
                moff,
                ..tok.clone()
            };
            let r = page(
                ctx,
                &tok,
                values,
                Some(link(
                    ctx,
                    "$skiptoken",
                    &token::seal(key, state.next_rand(), &next),
                )),
                None,
            );
            return preference_applied(r, false, max_page);
        }
        let dl = DeltaTok {
            init: false,
            v: tok.v,
            to: tok.v,
            pos: 0,
            moff: 0,
            t: auth::now_secs(),
            ..tok.clone()
        };
        let r = page(
            ctx,
            &tok,
            values,
            None,
            Some(link(
                ctx,
                "$deltatoken",
                &token::seal(key, state.next_rand(), &dl),
            )),
        );
        return preference_applied(r, false, max_page);
    }
    // changes round: ids changed in (v, to], in order of first change
    let lo = c.changes.partition_point(|ch| ch.version <= tok.v);
    let hi = c.changes.partition_point(|ch| ch.version <= tok.to);
    let mut order: Vec<String> = Vec::new();
    let mut merged: HashMap<String, Vec<&Change>> = HashMap::new();
    for ch in &c.changes[lo..hi] {
        let e = merged.entry(ch.id.clone()).or_default();
        if e.is_empty() {
            order.push(ch.id.clone());
        }
        e.push(ch);
    }
    let minimal = ctx
        .req
        .header("prefer")
        .is_some_and(|p| p.to_ascii_lowercase().contains("return=minimal"));
    let mut pos = tok.pos as usize;
    let mut moff = tok.moff;
    let mut more = false;
    while pos < order.len() {
        if budget == 0 {
            more = true;
            break;
        }
        let id = &order[pos];
        let chs = &merged[id];
        if let Some(item) = c.get(id) {
            let created = chs.iter().any(|c| c.created || c.restored);
            // net change per (relationship, related id), in order of last change
            let mut links: Vec<(&'static str, String, bool)> = Vec::new();
            for ch in chs {
                for (rel, m, added) in &ch.links {
                    if rels.contains(rel) {
                        links.retain(|(r, x, _)| !(r == rel && x == m));
                        links.push((rel, m.clone(), *added));
                    }
                }
            }
            let prop_change = created || chs.iter().any(|c| !c.props.is_empty());
            if !prop_change && links.is_empty() {
                pos += 1;
                continue;
            }
            let mut o = if minimal && !created {
                let mut o = Map::new();
                for ch in chs {
                    for p in &ch.props {
                        let selected = tok.sel.as_ref().is_none_or(|s| s.contains(p))
                            && (tok.sel.is_some()
                                || c.resource != "user"
                                || USER_DEFAULT.contains(&p.as_str()));
                        if selected {
                            o.insert(p.clone(), item.data.get(p).cloned().unwrap_or(Value::Null));
                        }
                    }
                }
                o.insert("id".into(), json!(item.id));
                o
            } else {
                full(&t, coll, item, &tok.sel)
            };
            let mut split = false;
            if !rels.is_empty() {
                let mut entries: Vec<(&'static str, Value)> = if created {
                    rels.iter()
                        .flat_map(|r| {
                            live_related(&t, item, r)
                                .into_iter()
                                .map(|m| (*r, member_ref(&t, m)))
                        })
                        .collect()
                } else {
                    links
                        .iter()
                        .map(|(rel, m, added)| {
                            let mut r = member_ref(&t, m);
                            if !added {
                                r["@removed"] = json!({"reason": "deleted"});
                            }
                            (*rel, r)
                        })
                        .collect()
                };
                // members before owners, as in the initial round
                entries.sort_by_key(|(r, _)| rels.iter().position(|x| x == r));
                if !entries.is_empty() {
                    let end = (moff + mchunk).min(entries.len());
                    put_rel_entries(&mut o, &entries[moff..end]);
                    if end < entries.len() {
                        split = true;
                        moff = end;
                    } else {
                        moff = 0;
                    }
                }
            }
            values.push(Value::Object(o));
            budget -= 1;
            if split {
                more = true;
                break;
            }
        } else {
            let reason = match c.removed.get(id) {
                Some((r, _)) => *r,
                None => RemovedReason::Deleted,
            };
            values.push(json!({"id": id, "@removed": {"reason": reason.as_str()}}));
            budget -= 1;
        }
        pos += 1;
        moff = 0;
    }
    if more {
        let next = DeltaTok {
            pos: pos as u64,
            moff,
            ..tok.clone()
        };
        let r = page(
            ctx,
            &tok,
            values,
            Some(link(
                ctx,
                "$skiptoken",
                &token::seal(key, state.next_rand(), &next),
            )),
            None,
        );
        return preference_applied(r, minimal, max_page);
    }
    let dl = DeltaTok {
        init: false,
        v: tok.to,
        to: tok.to,
        pos: 0,
        moff: 0,
        t: auth::now_secs(),
        ..tok
    };
    let r = page(
        ctx,
        &dl,
        values,
        None,
        Some(link(
            ctx,
            "$deltatoken",
            &token::seal(key, state.next_rand(), &dl),
        )),
    );
    preference_applied(r, minimal, max_page)
}

/// `Prefer: odata.maxpagesize=N` (a positive integer; other values are ignored, as HTTP ignores a
/// preference it does not understand).
fn max_page_size(ctx: &Ctx) -> Option<usize> {
    ctx.req.header("prefer")?.split(',').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("odata.maxpagesize")
            .then(|| v.trim().trim_matches('"').parse::<usize>().ok())
            .flatten()
            .filter(|n| *n > 0)
    })
}

/// `Preference-Applied` names the preferences this page honoured.
fn preference_applied(r: Resp, minimal: bool, max_page: Option<usize>) -> Resp {
    let mut applied = Vec::new();
    if minimal {
        applied.push("return=minimal".to_string());
    }
    if let Some(n) = max_page {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if applied.is_empty() {
        r
    } else {
        r.header("preference-applied", applied.join(", "))
    }
}

/// Delta links carry only the token: `$select` and the rest are encoded in it.
fn link(ctx: &Ctx, param: &str, tok: &str) -> String {
    format!("{}{}?{}={}", ctx.state.base_url, ctx.req.path, param, tok)
}

/// One delta page; `@odata.context` names the round's `$select` list (kept in the token, since
/// nextLinks and deltaLinks carry no `$select`) as Graph's does.
fn page(
    ctx: &Ctx,
    tok: &DeltaTok,
    values: Vec<Value>,
    next: Option<String>,
    delta: Option<String>,
) -> Resp {
    let sel = tok
        .sel
        .as_ref()
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    let mut o = Map::new();
    o.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#{}{sel}",
            base(ctx),
            ctx.route.context
        )),
    );
    if let Some(n) = next {
        o.insert("@odata.nextLink".into(), json!(n));
    }
    if let Some(d) = delta {
        o.insert("@odata.deltaLink".into(), json!(d));
    }
    let n = values.len();
    o.insert("value".into(), Value::Array(values));
    let mut r = Resp::json(200, &Value::Object(o));
    r.items = n;
    r
}
