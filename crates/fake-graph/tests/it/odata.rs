use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::{err_code, tiny};

#[tokio::test]
async fn paging_is_opaque_and_complete() {
    let t = tiny().await;
    let (s, _, first) = t.get("/v1.0/users?$top=5&$select=id,displayName").await;
    assert_eq!(s, 200);
    assert_eq!(first["value"].as_array().unwrap().len(), 5);
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$skiptoken=") && next.contains("$top=5"),
        "{next}"
    );
    let tok = next.split("$skiptoken=").nth(1).unwrap();
    assert!(tok.len() > 30 && tok.parse::<u64>().is_err());
    let all = t.all("/v1.0/users?$top=5&$select=id,displayName").await;
    let ids: HashSet<&str> = all.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(all.len(), 20);
    // tampered token
    // (a different last character: the token may already end in `A`)
    let other = if tok.ends_with('A') { 'B' } else { 'A' };
    let bad = next.replace(tok, &format!("{}{other}", &tok[..tok.len() - 1]));
    assert_eq!(t.get(&bad).await.0, 400);
    // an expired page token
    t.admin("/page_tokens/expire", json!({})).await;
    let (s, _, v) = t.get(next).await;
    assert_eq!(s, 400);
    assert_eq!(err_code(&v), "Directory_ExpiredPageToken");
}

#[tokio::test]
async fn top_limits_and_select() {
    let t = tiny().await;
    let (s, _, v) = t.get("/v1.0/users?$top=1000").await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("999"));
    assert_eq!(t.get("/v1.0/users?$top=999").await.0, 200);
    assert_eq!(
        t.get("/v1.0/users?$top=501&$select=id,signInActivity")
            .await
            .0,
        400
    );
    assert_eq!(
        t.get("/v1.0/users?$top=500&$select=id,signInActivity")
            .await
            .0,
        200
    );
    let (s, _, v) = t.get("/v1.0/users?$select=id,nosuchProp").await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchProp")
    );
    // default property set
    let (_, _, v) = t.get("/v1.0/users?$top=1").await;
    let keys: Vec<&String> = v["value"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
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
            "id"
        ]
    );
    let (_, _, v) = t
        .get("/v1.0/users?$select=id,displayName,accountEnabled")
        .await;
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#users(id,displayName,accountEnabled)")
    );
    assert_eq!(v["value"][0].as_object().unwrap().len(), 3);
    // single-GET-only properties are refused in lists but served on /users/{id}
    assert_eq!(t.get("/v1.0/users?$select=aboutMe").await.0, 501);
    let id = v["value"][0]["id"].as_str().unwrap();
    let (s, _, u) = t
        .get(&format!("/v1.0/users/{id}?$select=aboutMe,skills"))
        .await;
    assert_eq!(s, 200);
    assert!(u["@odata.context"].as_str().unwrap().ends_with("/$entity"));
    assert!(u["skills"].is_array());
}

#[tokio::test]
async fn count_needs_consistency_level() {
    let t = tiny().await;
    let (_, _, v) = t.get("/v1.0/users?$count=true&$top=2").await;
    assert!(v.get("@odata.count").is_none());
    let (_, _, v) = t
        .get_h(
            "/v1.0/users?$count=true&$top=2",
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(v["@odata.count"], 20);
    let (s, _, v) = t.get("/v1.0/users?$search=\"displayName:Adele\"").await;
    assert_eq!((s, err_code(&v)), (400, "Request_UnsupportedQuery"));
    let (s, _, v) = t.get("/v1.0/users?$filter=userType ne 'Member'").await;
    assert_eq!((s, err_code(&v)), (400, "Request_UnsupportedQuery"));
    let (s, _, v) = t
        .get_h(
            "/v1.0/users?$filter=userType ne 'Member'&$count=true",
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["userType"] != "Member" || u.get("userType").is_none())
    );
}

#[tokio::test]
async fn errors_for_unknown_paths_and_bad_queries() {
    let t = tiny().await;
    let (s, _, v) = t.get("/v1.0/nosuchthing").await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchthing")
    );
    let (s, _, v) = t
        .get("/v1.0/users/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!((s, err_code(&v)), (404, "Request_ResourceNotFound"));
    let (s, _, v) = t.get("/v1.0/users?$filter=displayName eq").await;
    assert_eq!(s, 400);
    assert!(v["error"]["innerError"]["request-id"].is_string());
    assert_eq!(t.get("/v1.0/users?$bogus=1").await.0, 400);
    assert_eq!(t.get("/v9/users").await.0, 400);
}

#[tokio::test]
async fn log_filters() {
    let t = tiny().await;
    let all = t.all("/v1.0/auditLogs/signIns").await;
    assert_eq!(all.len(), 300);
    // newest first
    let ts: Vec<&str> = all
        .iter()
        .map(|s| s["createdDateTime"].as_str().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]));
    let mid = ts[150];
    let newer = t
        .all(&format!(
            "/v1.0/auditLogs/signIns?$filter=createdDateTime ge {mid}"
        ))
        .await;
    assert!(newer.len() >= 151 && newer.len() < 300);
    assert!(
        newer
            .iter()
            .all(|s| s["createdDateTime"].as_str().unwrap() >= mid)
    );
    let older = t
        .all(&format!(
            "/v1.0/auditLogs/signIns?$filter=createdDateTime lt {mid}"
        ))
        .await;
    assert_eq!(older.len() + newer.len(), 300);
    let audits = t.all("/v1.0/auditLogs/directoryAudits?$top=50").await;
    assert_eq!(audits.len(), 120);
    let a_mid = audits[60]["activityDateTime"].as_str().unwrap();
    let f = t.all(&format!("/v1.0/auditLogs/directoryAudits?$filter=activityDateTime le {a_mid} and activityDateTime gt 2000-01-01T00:00:00Z")).await;
    assert!(
        f.iter()
            .all(|a| a["activityDateTime"].as_str().unwrap() <= a_mid)
    );
    let rd = t.all("/v1.0/identityProtection/riskDetections").await;
    let d0 = rd[0]["detectedDateTime"].as_str().unwrap();
    let f = t
        .all(&format!(
            "/v1.0/identityProtection/riskDetections?$filter=detectedDateTime ge {d0}"
        ))
        .await;
    assert!(
        !f.is_empty()
            && f.iter()
                .all(|d| d["detectedDateTime"].as_str().unwrap() >= d0)
    );
    assert_eq!(t.get("/v1.0/auditLogs/signIns?$top=1001").await.0, 400);
}

#[tokio::test]
async fn pim_group_filter_and_members_types() {
    let t = tiny().await;
    let groups = t.all("/v1.0/groups?$select=id,isAssignableToRole").await;
    let g = groups
        .iter()
        .find(|g| g["isAssignableToRole"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleInstances";
    assert_eq!(t.get(p).await.0, 400);
    let v = t.all(&format!("{p}?$filter=groupId eq '{g}'")).await;
    assert!(!v.is_empty() && v.iter().all(|i| i["groupId"] == g.as_str()));
    let e = t.all(&format!("/v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances?$filter=groupId eq '{g}'")).await;
    assert!(!e.is_empty());
    // members carry @odata.type
    let all_company = &groups[0]["id"].as_str().unwrap().to_string();
    let m = t
        .all(&format!("/v1.0/groups/{all_company}/members?$top=7"))
        .await;
    assert_eq!(m.len(), 20);
    assert!(
        m.iter()
            .all(|x| x["@odata.type"] == "#microsoft.graph.user")
    );
    let (_, _, v) = t.get(&format!("/v1.0/groups/{all_company}/members")).await;
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#directoryObjects")
    );
    // nested groups show up in transitiveMembers
    let mut nested = 0;
    for g in &groups {
        let id = g["id"].as_str().unwrap();
        let direct = t.all(&format!("/v1.0/groups/{id}/members")).await;
        let trans = t.all(&format!("/v1.0/groups/{id}/transitiveMembers")).await;
        assert!(trans.len() >= direct.len());
        if direct
            .iter()
            .any(|m| m["@odata.type"] == "#microsoft.graph.group")
        {
            nested += 1;
        }
    }
    let _ = nested;
}

#[tokio::test]
async fn beta_and_singletons() {
    let t = tiny().await;
    let (s, _, v) = t
        .get("/beta/roleManagement/directory/roleAssignmentScheduleInstances")
        .await;
    assert_eq!(s, 200);
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/beta/$metadata#")
    );
    let (s, _, v) = t.get("/v1.0/policies/authorizationPolicy").await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], "authorizationPolicy");
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("policies/authorizationPolicy/$entity")
    );
    let (_, _, v) = t
        .get("/v1.0/identity/conditionalAccess/namedLocations")
        .await;
    let types: HashSet<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["@odata.type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains("#microsoft.graph.ipNamedLocation")
            && types.contains("#microsoft.graph.countryNamedLocation")
    );
    let _: Value = v;
}

#[tokio::test]
async fn search_and_id_filters() {
    let t = tiny().await;
    let (s, _, v) = t
        .get_h(
            "/v1.0/users?$search=\"displayName:adele\"&$count=true",
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["@odata.count"], 1);
    assert_eq!(v["value"][0]["displayName"], "Adele Vance");
    let id = v["value"][0]["id"].as_str().unwrap();
    let f = t
        .all(&format!(
            "/v1.0/users?$filter=id eq '{id}' and accountEnabled eq true&$select=id"
        ))
        .await;
    assert_eq!(f.len(), 1);
    let f = t
        .all("/v1.0/users?$filter=startswith(displayName,'A')&$select=displayName")
        .await;
    assert!(
        !f.is_empty()
            && f.iter()
                .all(|u| u["displayName"].as_str().unwrap().starts_with('A'))
    );
}
