//! Where Graph's documented behaviour is easy to miss: `$filter` only on indexed properties, the
//! `$count` segment, 7-digit log timestamps, `client-request-id` echoes, injected 429s that read as
//! natural ones, delta's `@odata.context` and `odata.maxpagesize`, `directoryRoles(roleTemplateId=…)`,
//! PIM scopes and `signInActivity`'s "never".

use std::collections::BTreeSet;

use fake_graph::{Config, FaultRule, Profile};
use serde_json::Value;

use crate::common::{self, err_code, tiny};

fn truth_ids(truth: &Value, coll: &str) -> BTreeSet<String> {
    truth[coll]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn truth(t: &common::T) -> Value {
    t.client
        .get(t.url("/_fake/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn filter_only_on_indexed_properties_with_their_operators() {
    let t = tiny().await;
    let users = t.all("/v1.0/users?$select=id,displayName").await;
    let some_id = users[3]["id"].as_str().unwrap();
    // id is indexed for equality only: a range over ids is not a query Graph answers
    for bad in [
        format!("id ge '{some_id}'"),
        format!("id lt '{some_id}'"),
        "startswith(id,'a')".to_string(),
        // not indexed at all
        "aboutMe eq 'x'".to_string(),
        "passwordProfile/forceChangePasswordNextSignIn eq true".to_string(),
        // contains() is no directory operator
        "contains(displayName,'a')".to_string(),
        // a bad clause hidden in a conjunction
        format!("accountEnabled eq true and id ge '{some_id}'"),
    ] {
        let (s, _, v) = t.get(&format!("/v1.0/users?$filter={bad}")).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(err_code(&v), "Request_UnsupportedQuery", "{bad}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        let prop = if bad.contains("aboutMe") {
            "aboutMe"
        } else if bad.contains("passwordProfile") {
            "passwordProfile"
        } else if bad.contains("contains") {
            "displayName"
        } else {
            "id"
        };
        assert!(msg.contains(prop), "{bad}: {msg}");
    }
    // what is indexed works, with the exact answer
    let (s, _, v) = t
        .get(&format!(
            "/v1.0/users?$filter=id eq '{some_id}' and accountEnabled eq true&$select=id"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["value"].as_array().unwrap().len() <= 1);
    let (s, _, v) = t
        .get(&format!(
            "/v1.0/users?$filter=id in ('{some_id}')&$select=id"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"][0]["id"], some_id);
    let (s, _, v) = t
        .get("/v1.0/users?$filter=startswith(displayName,'a')&$select=id,displayName")
        .await;
    assert_eq!(s, 200, "{v}");
    let want: BTreeSet<&str> = users
        .iter()
        .filter(|u| {
            u["displayName"]
                .as_str()
                .is_some_and(|n| n.to_lowercase().starts_with('a'))
        })
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let got: BTreeSet<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        t.get("/v1.0/users?$filter=createdDateTime ge 2000-01-01T00:00:00Z")
            .await
            .0,
        200
    );
    assert_eq!(
        t.get("/v1.0/groups?$filter=hasMembersWithLicenseErrors eq true")
            .await
            .0,
        200
    );
    // resources without a documented index table keep answering (entrasync's PIM-for-groups query)
    let (s, _, v) = t
        .get("/v1.0/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq 'x'")
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn count_segment_is_plain_text_with_eventual_consistency_only() {
    let t = tiny().await;
    let truth = truth(&t).await;
    let eventual = [("ConsistencyLevel", "eventual")];
    for (path, coll) in [
        ("/v1.0/users/$count", "users"),
        ("/v1.0/groups/$count", "groups"),
        ("/v1.0/applications/$count", "applications"),
        ("/v1.0/devices/$count", "devices"),
    ] {
        let r = t
            .client
            .get(t.url(path))
            .bearer_auth(&t.token)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain"), "{path}: {ct}");
        let body = r.text().await.unwrap();
        assert_eq!(body, truth_ids(&truth, coll).len().to_string(), "{path}");
        // without the header: Graph's documented 400
        let (s, _, v) = t.get(path).await;
        assert_eq!(s, 400, "{path}");
        assert_eq!(err_code(&v), "Request_BadRequest");
        assert_eq!(v["error"]["message"], "$count is not currently supported.");
    }
    // a relationship, and with a filter
    let g = &truth["groups"]["rels"]["members"][0];
    let gid = g[0].as_str().unwrap();
    let members = t
        .all(&format!("/v1.0/groups/{gid}/members?$select=id"))
        .await;
    let r = t
        .client
        .get(t.url(&format!("/v1.0/groups/{gid}/members/$count")))
        .bearer_auth(&t.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), members.len().to_string());
    let enabled = t
        .all("/v1.0/users?$filter=accountEnabled eq true&$select=id")
        .await;
    let r = t
        .client
        .get(t.url("/v1.0/users/$count?$filter=accountEnabled eq true"))
        .bearer_auth(&t.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), enabled.len().to_string());
    // not on one object, nor on a singleton
    let uid = truth["users"]["ids"][0].as_str().unwrap();
    let (s, _, _) = t
        .get_h(&format!("/v1.0/users/{uid}/$count"), &eventual)
        .await;
    assert_eq!(s, 400);
    let (s, _, _) = t
        .get_h("/v1.0/policies/authorizationPolicy/$count", &eventual)
        .await;
    assert_eq!(s, 400);
}

/// `yyyy-mm-ddThh:mm:ss.fffffffZ`.
fn seven_digits(ts: &str) -> bool {
    let Some(frac) = ts
        .strip_suffix('Z')
        .and_then(|s| s.split_once('.'))
        .map(|(_, f)| f)
    else {
        return false;
    };
    frac.len() == 7 && frac.bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test]
async fn log_times_carry_seven_fractional_digits_and_filter_exactly() {
    let t = tiny().await;
    let (s, _, v) = t.get("/v1.0/auditLogs/signIns?$top=50").await;
    assert_eq!(s, 200, "{v}");
    let signins = v["value"].as_array().unwrap();
    assert!(!signins.is_empty());
    let times: Vec<&str> = signins
        .iter()
        .map(|s| s["createdDateTime"].as_str().unwrap())
        .collect();
    assert!(times.iter().all(|t| seven_digits(t)), "{times:?}");
    // the digits below the millisecond are real: not all zero
    assert!(times.iter().any(|t| !t.ends_with("0000Z")), "{times:?}");
    let (_, _, v) = t.get("/v1.0/auditLogs/directoryAudits?$top=20").await;
    for a in v["value"].as_array().unwrap() {
        let at = a["activityDateTime"].as_str().unwrap();
        assert!(seven_digits(at), "{at}");
    }
    // a bound at the exact 7-digit instant of an entry: `ge` keeps it, `gt` drops it, and the
    // millisecond's other digits do not leak through
    let at = times[times.len() / 2];
    let newer = |op: &str| {
        let t = &t;
        let q = format!("/v1.0/auditLogs/signIns?$filter=createdDateTime {op} {at}&$top=1000");
        async move { t.all(&q).await }
    };
    let ge = newer("ge").await;
    let gt = newer("gt").await;
    let at_count = ge
        .iter()
        .filter(|s| s["createdDateTime"].as_str() == Some(at))
        .count();
    assert!(at_count >= 1);
    assert_eq!(ge.len() - gt.len(), at_count);
    assert!(
        gt.iter()
            .all(|s| s["createdDateTime"].as_str().unwrap() > at)
    );
    assert!(
        ge.iter()
            .all(|s| s["createdDateTime"].as_str().unwrap() >= at)
    );
    // `$count` agrees with the entries served
    let (_, _, v) = t
        .get(&format!(
            "/v1.0/auditLogs/signIns?$filter=createdDateTime gt {at}&$count=true&$top=1000"
        ))
        .await;
    assert_eq!(v["@odata.count"].as_u64().unwrap() as usize, gt.len());
}

#[tokio::test]
async fn errors_echo_client_request_id_with_request_id_and_date() {
    let t = tiny().await;
    let cid = "7f1e6a52-4f0e-4c8e-9a57-0b8a3c2d1e0f";
    let (s, h, v) = t
        .get_h("/v1.0/users/no-such-user", &[("client-request-id", cid)])
        .await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["innerError"]["client-request-id"], cid);
    assert_eq!(h["client-request-id"], cid);
    let rid = h["request-id"].to_str().unwrap();
    assert_eq!(v["error"]["innerError"]["request-id"], rid);
    assert!(v["error"]["innerError"]["date"].is_string());
    assert!(h.get("date").is_some(), "{h:?}");
    // without one, the ids are the server's own
    let (_, h, v) = t.get("/v1.0/users/no-such-user").await;
    assert_ne!(v["error"]["innerError"]["client-request-id"], cid);
    assert!(h.get("request-id").is_some());
    // an injected fault echoes it too
    t.server.add_fault(FaultRule {
        path_prefix: "/v1.0/groups".into(),
        status: Some(503),
        ..Default::default()
    });
    let (s, h, v) = t.get_h("/v1.0/groups", &[("client-request-id", cid)]).await;
    assert_eq!(s, 503);
    assert_eq!(v["error"]["innerError"]["client-request-id"], cid);
    assert_eq!(h["client-request-id"], cid);
    // success responses echo it in the header
    let (s, h, _) = t
        .get_h("/v1.0/groups?$top=1", &[("client-request-id", cid)])
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["client-request-id"], cid);
}

#[tokio::test]
async fn injected_429_reads_like_a_natural_one() {
    let mut cfg = Config::new(Profile::Tiny, 1);
    cfg.throttling = true;
    let t = common::start(cfg).await;
    let app = t.server.info.client_id.clone();
    let tenant = t.server.info.tenant_id.clone();
    // natural: identity protection allows 1 request a second per tenant
    assert_eq!(t.get("/v1.0/identityProtection/riskyUsers").await.0, 200);
    let (s, natural, _) = t.get("/v1.0/identityProtection/riskyUsers").await;
    assert_eq!(s, 429);
    for (path, scope, info) in [
        (
            "/v1.0/users",
            format!("Tenant_Application/Read/{app}/{tenant}"),
            "ResourceUnitLimitExceeded",
        ),
        (
            "/v1.0/auditLogs/signIns",
            format!("Tenant_Application/Read/{app}/{tenant}"),
            "RequestLimitExceeded",
        ),
        (
            "/v1.0/identityProtection/riskyUsers",
            format!("Tenant/Read/{app}/{tenant}"),
            "RequestLimitExceeded",
        ),
    ] {
        t.server.add_fault(FaultRule {
            path_prefix: path.into(),
            status: Some(429),
            retry_after: Some("2".into()),
            ..Default::default()
        });
        let (s, h, v) = t.get(path).await;
        assert_eq!(s, 429, "{path}");
        assert_eq!(err_code(&v), "TooManyRequests");
        assert_eq!(h["x-ms-throttle-scope"], scope.as_str(), "{path}");
        assert_eq!(h["x-ms-throttle-information"], info, "{path}");
        assert_eq!(h["retry-after"], "2");
    }
    // the injected one for the same endpoint carries the natural one's detail
    t.server.add_fault(FaultRule {
        path_prefix: "/v1.0/identityProtection/riskyUsers".into(),
        status: Some(429),
        ..Default::default()
    });
    let (_, injected, _) = t.get("/v1.0/identityProtection/riskyUsers").await;
    for k in ["x-ms-throttle-scope", "x-ms-throttle-information"] {
        assert_eq!(injected[k], natural[k], "{k}");
    }
}

#[tokio::test]
async fn delta_context_names_select_and_honours_maxpagesize() {
    let t = tiny().await;
    let truth = truth(&t).await;
    let (s, _, v) = t
        .get("/v1.0/users/delta?$select=displayName,jobTitle")
        .await;
    assert_eq!(s, 200);
    let ctx = v["@odata.context"].as_str().unwrap();
    assert!(
        ctx.ends_with("/v1.0/$metadata#users(displayName,jobTitle)"),
        "{ctx}"
    );
    let (_, _, v) = t.get("/v1.0/users/delta").await;
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#users")
    );
    // odata.maxpagesize: pages of at most 3, every page says so, nextLinks keep the $select
    let prefer = [("Prefer", "odata.maxpagesize=3")];
    let mut next = Some(t.url("/v1.0/users/delta?$select=displayName"));
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    let mut delta_link = None;
    while let Some(url) = next.take() {
        let (s, h, v) = t.get_h(&url, &prefer).await;
        assert_eq!(s, 200, "{v}");
        pages += 1;
        assert_eq!(h["preference-applied"], "odata.maxpagesize=3");
        let page = v["value"].as_array().unwrap();
        assert!(page.len() <= 3);
        assert!(
            v["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("#users(displayName)")
        );
        ids.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        next = v["@odata.nextLink"].as_str().map(str::to_string);
        delta_link = v["@odata.deltaLink"].as_str().map(str::to_string);
    }
    assert_eq!(ids, truth_ids(&truth, "users"));
    assert!(pages >= ids.len().div_ceil(3), "{pages} pages");
    // the next round's context still names the $select kept in the token
    let (_, _, v) = t.get(&delta_link.unwrap()).await;
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#users(displayName)")
    );
    // with return=minimal both preferences are applied; nonsense sizes are ignored
    let (_, h, _) = t
        .get_h(
            "/v1.0/groups/delta",
            &[("Prefer", "return=minimal, odata.maxpagesize=2")],
        )
        .await;
    assert_eq!(h["preference-applied"], "odata.maxpagesize=2");
    for junk in ["odata.maxpagesize=0", "odata.maxpagesize=lots"] {
        let (s, h, _) = t.get_h("/v1.0/groups/delta", &[("Prefer", junk)]).await;
        assert_eq!(s, 200);
        assert!(h.get("preference-applied").is_none(), "{junk}");
    }
}

#[tokio::test]
async fn directory_roles_by_role_template_id() {
    let t = tiny().await;
    let roles = t
        .all("/v1.0/directoryRoles?$select=id,roleTemplateId")
        .await;
    let role = &roles[0];
    let template = role["roleTemplateId"].as_str().unwrap();
    let (s, _, v) = t
        .get(&format!(
            "/v1.0/directoryRoles(roleTemplateId='{template}')"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], role["id"]);
    let by_id = t
        .all(&format!(
            "/v1.0/directoryRoles/{}/members",
            role["id"].as_str().unwrap()
        ))
        .await;
    let by_template = t
        .all(&format!(
            "/v1.0/directoryRoles(roleTemplateId='{template}')/members"
        ))
        .await;
    assert_eq!(by_template, by_id);
    // a template without an activated role, and malformed keys
    let (s, _, v) = t
        .get("/v1.0/directoryRoles(roleTemplateId='00000000-0000-0000-0000-000000000000')")
        .await;
    assert_eq!(s, 404);
    assert_eq!(err_code(&v), "Request_ResourceNotFound");
    for bad in [
        "/v1.0/directoryRoles(displayName='x')",
        "/v1.0/directoryRoles(roleTemplateId=unquoted)",
        "/v1.0/directoryRoles(roleTemplateId='x'",
    ] {
        let (s, _, v) = t.get(bad).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn pim_instances_at_directory_scope_have_no_app_scope() {
    let t = tiny().await;
    for path in [
        "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances",
        "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
        "/v1.0/roleManagement/directory/roleAssignmentSchedules",
        "/v1.0/roleManagement/directory/roleEligibilitySchedules",
    ] {
        let all = t.all(path).await;
        // Graph sets exactly one scope; the dense tiny tenant shows one app-scoped item
        let tenant_wide = all.iter().filter(|i| i["directoryScopeId"] == "/").count();
        assert!(tenant_wide > 0 && tenant_wide + 1 >= all.len(), "{path}");
        for i in &all {
            assert_ne!(
                i["appScopeId"].is_null(),
                i["directoryScopeId"].is_null(),
                "{path}: {i}"
            );
        }
    }
}

#[tokio::test]
async fn sign_in_activity_is_null_or_never_for_some_users_by_seed() {
    let small = || common::start(Config::new(Profile::Small, 3));
    let t = small().await;
    let users = t.all("/v1.0/users?$select=id,signInActivity").await;
    let never = "0001-01-01T00:00:00Z";
    let kinds = |users: &[Value]| -> Vec<(String, &'static str)> {
        users
            .iter()
            .map(|u| {
                let a = &u["signInActivity"];
                let kind = if a.is_null() {
                    "null"
                } else if a["lastSignInDateTime"] == never {
                    assert_eq!(a["lastSuccessfulSignInDateTime"], never);
                    assert!(a["lastSignInRequestId"].is_null());
                    "never"
                } else {
                    assert!(a["lastSignInDateTime"].as_str().unwrap() > "2000");
                    "signed in"
                };
                (u["id"].as_str().unwrap().to_string(), kind)
            })
            .collect()
    };
    let first = kinds(&users);
    for k in ["null", "never", "signed in"] {
        assert!(first.iter().any(|(_, x)| *x == k), "no {k} user: {first:?}");
    }
    // the same seed gives the same users the same kind
    let again = small().await;
    let users2 = again.all("/v1.0/users?$select=id,signInActivity").await;
    assert_eq!(kinds(&users2), first);
}
