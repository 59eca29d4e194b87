//! Several tenants in one run: one source with a `tenants:` list against one fake-graph server
//! serving three tenants. A tenant with a wrong secret fails alone and is named; the others'
//! rows equal their own tenant's truth, under the tenant's GUID even when the config names it by
//! domain; a later run where another tenant fails leaves that tenant's rows exactly as they were.

use crate::harness::{Db, run_cli, write_config};
use crate::postgres::{PgDb, connect};
use fake_graph::Profile;
use std::collections::BTreeSet;

const TABLES: &str =
    r#"["entraid_users", "entraid_groups", "entraid_group_members", "entraid_domains"]"#;

/// Where the rows go: a SQLite file or a PostgreSQL database, read back with the same SQL.
enum Store {
    Sqlite(std::path::PathBuf),
    Postgres(PgDb),
}

impl Store {
    fn destination(&self) -> String {
        let (path, connection) = match self {
            Store::Sqlite(db) => ("cloudquery/sqlite", db.display().to_string()),
            Store::Postgres(pg) => ("cloudquery/postgresql", pg.url.clone()),
        };
        format!(
            "kind: destination\nspec:\n  name: store\n  path: {path}\n  registry: cloudquery\n  \
             version: \"v1.0.0\"\n  spec:\n    connection_string: \"{connection}\"\n"
        )
    }

    /// The first column of every row `sql` returns, as text, sorted.
    async fn strings(&self, sql: &str) -> Vec<String> {
        let mut out: Vec<String> = match self {
            Store::Sqlite(db) => Db::open(db).strings(sql),
            Store::Postgres(pg) => connect(&pg.url)
                .await
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect(),
        };
        out.sort();
        out
    }

    async fn set(&self, sql: &str) -> BTreeSet<String> {
        self.strings(sql).await.into_iter().collect()
    }

    /// Every row of `table` for `tenant`, with its `_cq_id` and `_cq_sync_time`: equal only if
    /// no row was written or deleted.
    async fn rows_of(&self, table: &str, tenant: &str) -> Vec<String> {
        self.strings(&format!(
            "SELECT CAST(_cq_id AS TEXT) || '|' || CAST(_cq_sync_time AS TEXT) || '|' || id \
             FROM \"{table}\" WHERE tenant_id = '{tenant}'"
        ))
        .await
    }
}

/// A `tenants:` entry; `by_domain` names the tenant by its `onmicrosoft.com` domain.
fn entry(t: &fake_graph::server::Tenant, by_domain: bool, secret: &str) -> String {
    let id = if by_domain {
        &t.info.tenant_domain
    } else {
        &t.info.tenant_id
    };
    format!(
        "      - tenant_id: {id}\n        client_id: {}\n        client_secret: \"{secret}\"\n",
        t.info.client_id
    )
}

fn config(server: &fake_graph::Server, store: &Store, entries: &str) -> String {
    format!(
        r#"kind: source
spec:
  name: entraid
  path: cloudquery/entraid
  registry: cloudquery
  version: "v1.4.1"
  tables: {TABLES}
  destinations: ["store"]
  backend_options:
    table_name: cq_state_entraid
    connection: "@@plugins.store.connection"
  spec:
    graph_url: {graph}
    login_url: {login}
    max_retries: 2
    tenants:
{entries}---
{dest}"#,
        graph = server.info.graph_url,
        login = server.info.login_url,
        dest = store.destination(),
    )
}

async fn truth(http: &reqwest::Client, t: &fake_graph::server::Tenant) -> serde_json::Value {
    let url = format!(
        "{}/_fake/tenants/{}/truth",
        t.info.graph_url, t.info.tenant_id
    );
    http.get(&url).send().await.unwrap().json().await.unwrap()
}

/// The tenant's rows equal its own truth: users, groups, domains by id, memberships by pair.
async fn assert_matches_truth(
    store: &Store,
    http: &reqwest::Client,
    t: &fake_graph::server::Tenant,
) {
    let truth = truth(http, t).await;
    let tid = &t.info.tenant_id;
    let ids = |coll: &str| -> BTreeSet<String> {
        truth[coll]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    for (table, coll) in [
        ("entraid_users", "users"),
        ("entraid_groups", "groups"),
        ("entraid_domains", "domains"),
    ] {
        let got = store
            .set(&format!(
                "SELECT id FROM \"{table}\" WHERE tenant_id = '{tid}'"
            ))
            .await;
        assert_eq!(got, ids(coll), "{table} of tenant {tid}");
        assert!(!got.is_empty(), "{table} of tenant {tid} has rows");
    }
    let members: BTreeSet<String> = truth["groups"]["rels"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}|{}", p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect();
    let got = store
        .set(&format!(
            "SELECT group_id || '|' || id FROM entraid_group_members WHERE tenant_id = '{tid}'"
        ))
        .await;
    assert_eq!(got, members, "group members of tenant {tid}");
}

async fn three_tenants_one_failing(store: Store) {
    let server = fake_graph::start(fake_graph::Config::new(Profile::Tiny, 61).tenants(3))
        .await
        .expect("fake-graph starts");
    let http = reqwest::Client::new();
    let t = server.tenants().to_vec();
    assert_eq!(t.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let secret = |i: usize| t[i].info.client_secret.clone();

    // Run 1: tenant 2's secret is wrong; tenant 1 is named by its domain.
    let entries = entry(&t[0], false, &secret(0))
        + &entry(&t[1], true, &secret(1))
        + &entry(&t[2], false, "wrong-secret");
    let path = write_config(dir.path(), &config(&server, &store, &entries));
    let (code, _, err) = run_cli(&["sync", "--no-progress", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "a failed tenant fails the run: {err}");
    assert!(err.contains("1 of 3 tenants failed"), "{err}");
    let failed_line = err
        .lines()
        .find(|l| l.contains(&format!("tenant {}", t[2].info.tenant_id)))
        .unwrap_or_else(|| panic!("the failing tenant is named: {err}"));
    assert!(failed_line.contains("7000215"), "says why: {failed_line}");
    assert!(
        !err.contains("wrong-secret"),
        "never prints the secret: {err}"
    );
    for good in &t[..2] {
        assert!(
            !err.contains(&format!("tenant {} (source", good.info.tenant_domain))
                && err.contains(&format!("tenant {} (source", good.info.tenant_id)),
            "each tenant's summary is headed by its GUID: {err}"
        );
        assert_matches_truth(&store, &http, good).await;
    }
    // Rows carry GUIDs only: the domain a tenant was named by never reaches a row.
    let tenants_seen = store
        .set("SELECT DISTINCT tenant_id FROM entraid_users")
        .await;
    let expected: BTreeSet<String> = t[..2].iter().map(|t| t.info.tenant_id.clone()).collect();
    assert_eq!(tenants_seen, expected);
    let keys = store.strings("SELECT key FROM cq_state_entraid").await;
    assert!(!keys.is_empty());
    for key in &keys {
        let tenant = key.split('|').nth(1).unwrap_or_default();
        assert!(
            expected.contains(tenant),
            "state key {key} is scoped by a GUID"
        );
    }

    // Run 2: tenant 0 changed, tenant 1 now fails, tenant 2 is fixed. Tenant 1's rows must stay
    // exactly as they were, although every table of tenant 0 and 2 deletes its stale rows.
    let before: Vec<Vec<String>> = futures::future::join_all(
        [
            "entraid_users",
            "entraid_groups",
            "entraid_group_members",
            "entraid_domains",
        ]
        .map(|table| store.rows_of(table, &t[1].info.tenant_id)),
    )
    .await;
    let state_of_1 = store
        .strings(&format!(
            "SELECT key || '=' || value FROM cq_state_entraid WHERE key LIKE '%|{}%'",
            t[1].info.tenant_id
        ))
        .await;
    let summary = fake_graph::admin::mutate(&t[0].state, 7, 25);
    assert!(summary.applied > 0, "the mutation changed tenant 0");
    let entries = entry(&t[0], false, &secret(0))
        + &entry(&t[1], true, "now-wrong")
        + &entry(&t[2], false, &secret(2));
    let path = write_config(dir.path(), &config(&server, &store, &entries));
    let (code, _, err) = run_cli(&["sync", "--no-progress", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("tenant {}", t[1].info.tenant_domain)),
        "the failing tenant is named as configured: {err}"
    );
    assert_matches_truth(&store, &http, &t[0]).await;
    assert_matches_truth(&store, &http, &t[2]).await;
    let after: Vec<Vec<String>> = futures::future::join_all(
        [
            "entraid_users",
            "entraid_groups",
            "entraid_group_members",
            "entraid_domains",
        ]
        .map(|table| store.rows_of(table, &t[1].info.tenant_id)),
    )
    .await;
    assert_eq!(before, after, "tenant 1's rows are untouched");
    let state_after = store
        .strings(&format!(
            "SELECT key || '=' || value FROM cq_state_entraid WHERE key LIKE '%|{}%'",
            t[1].info.tenant_id
        ))
        .await;
    assert_eq!(state_of_1, state_after, "tenant 1's state is untouched");
    server.shutdown().await;
    if let Store::Postgres(pg) = store {
        pg.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tenants_in_one_run_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    three_tenants_one_failing(Store::Sqlite(dir.path().join("tenants.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tenants_in_one_run_postgres() {
    three_tenants_one_failing(Store::Postgres(PgDb::create().await)).await;
}

/// `tenants:` mistakes are found at load, at the entry's line.
#[test]
fn tenants_list_errors_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let load = |tenants: &str| {
        let text = format!(
            "kind: source\nspec:\n  name: entraid\n  path: cloudquery/entraid\n  registry: cloudquery\n  \
             tables: [\"entraid_users\"]\n  destinations: [\"db\"]\n  spec:\n    client_id: app\n{tenants}---\n\
             kind: destination\nspec:\n  name: db\n  path: cloudquery/sqlite\n  registry: cloudquery\n  \
             spec:\n    connection_string: x.db\n"
        );
        let path = write_config(dir.path(), &text);
        entrasync::config::load(&[path]).map(|c| c.sources.len())
    };
    let err = load(
        "    tenants:\n      - tenant_id: contoso.onmicrosoft.com\n        client_secret: a\n      \
         - tenant_id: CONTOSO.onmicrosoft.com\n        client_secret: b\n",
    )
    .unwrap_err();
    assert_eq!(err.line, Some(13), "{err}");
    assert!(
        err.to_string().contains("listed twice (first at line 11)"),
        "{err}"
    );
    let err = load(
        "    tenants:\n      - tenant_id: t1\n        client_secret: a\n      - tenant_id: t2\n",
    )
    .unwrap_err();
    assert_eq!(err.line, Some(13), "{err}");
    assert!(err.to_string().contains("spec.tenants[1]"), "{err}");
    // The message says exactly what to write.
    for key in [
        "client_secret: ...",
        "client_certificate_path: /path/app.pem",
        "client_certificate_password: ...",
        "federated_token_file: /path/token",
        "auth: azure_cli",
    ] {
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
    // A managed identity (like a given token) lives in one tenant: refused, with the way out.
    let err = load(
        "    auth: managed_identity\n    tenants:\n      - tenant_id: t1\n      - tenant_id: t2\n",
    )
    .unwrap_err();
    assert_eq!(err.line, Some(12), "{err}");
    assert!(
        err.to_string()
            .contains("a managed identity belongs to a single tenant")
            && err
                .to_string()
                .contains("`tenant_id:` instead of `tenants:`"),
        "{err}"
    );
    // Workload identity and a PFX per tenant; a shared token file from the spec.
    let ok = load(&format!(
        "    federated_token_file: /var/run/token\n    tenants:\n      - tenant_id: t1\n      \
         - tenant_id: t2\n        client_certificate_path: {}/tests/data/pfx/app-aes.pfx\n        \
         client_certificate_password: entrasync-test\n      - tenant_id: t3\n        auth: azure_cli\n",
        env!("CARGO_MANIFEST_DIR")
    ));
    assert_eq!(ok, Ok(3));
    let err = load("    tenants:\n      - client_secret: a\n").unwrap_err();
    assert_eq!(err.line, Some(11), "{err}");
    assert!(err.to_string().contains("no tenant_id"), "{err}");
    let err = load("    tenant_id: t0\n    tenants:\n      - tenant_id: t1\n").unwrap_err();
    assert_eq!(err.line, Some(10), "{err}");
    let err = load("    tenants: []\n").unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = load("    tenants:\n      - tenant_id: t1\n        clientsecret: a\n").unwrap_err();
    assert!(err.to_string().contains("clientsecret"), "{err}");
    // Two tenants, one inheriting the spec's secret: two sources.
    let ok = load(
        "    client_secret: shared\n    tenants:\n      - tenant_id: t1\n      - tenant_id: t2\n        \
         client_secret: own\n",
    );
    assert_eq!(ok, Ok(2));
}

/// fake-graph's tenants are apart: each answers by GUID and domain, lists in `/_fake/tenants`,
/// and refuses another tenant's app; an unknown tenant in the operator path is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_graph_tenants_are_separate() {
    let server = fake_graph::start(fake_graph::Config::new(Profile::Tiny, 71).tenants(2))
        .await
        .expect("fake-graph starts");
    let http = reqwest::Client::new();
    let [a, b] = [&server.tenants()[0].info, &server.tenants()[1].info];
    assert_ne!(a.tenant_id, b.tenant_id);
    assert_ne!(a.tenant_domain, b.tenant_domain);
    let listed: Vec<serde_json::Value> = http
        .get(format!("{}/_fake/tenants", a.graph_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|t| t["tenant_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.tenant_id.as_str(), b.tenant_id.as_str()]);
    let token = |tenant: String, client_id: String, secret: String| {
        let http = http.clone();
        let url = format!("{}/{tenant}/oauth2/v2.0/token", a.login_url);
        async move {
            let r = http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("scope", "https://graph.microsoft.com/.default"),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // B's own app by B's domain: a token whose tid is B's GUID, which reads B's users.
    let (status, body) = token(
        b.tenant_domain.clone(),
        b.client_id.clone(),
        b.client_secret.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (_, tid) =
        entrasync::graph::auth::token_claims(access["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(tid.as_deref(), Some(b.tenant_id.as_str()));
    let users: serde_json::Value = http
        .get(format!("{}/v1.0/users?$select=id", b.graph_url))
        .bearer_auth(access["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let truth_b = truth(&http, &server.tenants()[1]).await;
    let mut got: Vec<&str> = users["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    let want: Vec<&str> = truth_b["users"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got, want, "B's token reads B's users");
    // A's app is not registered in B.
    let (status, body) = token(
        b.tenant_id.clone(),
        a.client_id.clone(),
        a.client_secret.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AADSTS700016"), "{body}");
    let status = http
        .get(format!(
            "{}/_fake/tenants/nowhere.onmicrosoft.com/stats",
            a.graph_url
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    server.shutdown().await;
}

/// Every tenant of one fake-graph server has its own identity endpoints: OIDC discovery and keys,
/// certificate and workload-identity sign-in at its token endpoint, a managed identity and a
/// GitHub token service; entrasync signs in to two tenants of one server both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_endpoints_serve_every_tenant() {
    let server = fake_graph::start(fake_graph::Config::new(Profile::Tiny, 81).tenants(2))
        .await
        .expect("fake-graph starts");
    let http = reqwest::Client::new();
    let tenants = server.tenants().to_vec();
    let get = |url: String, headers: Vec<(&'static str, String)>| {
        let mut req = http.get(&url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            assert_eq!(status, 200, "GET {url}: {body}");
            body
        }
    };
    let admin = |t: &fake_graph::server::Tenant, path: &str, body: serde_json::Value| {
        let url = format!(
            "{}/_fake/tenants/{}/{path}",
            t.info.graph_url, t.info.tenant_id
        );
        let req = http.post(url).json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let tid_of = |token: &str| {
        entrasync::graph::auth::token_claims(token)
            .unwrap()
            .1
            .unwrap()
    };
    for t in &tenants {
        let info = &t.info;
        // Discovery by GUID and by domain; its jwks_uri answers.
        for name in [&info.tenant_id, &info.tenant_domain] {
            let doc = get(
                format!(
                    "{}/{name}/v2.0/.well-known/openid-configuration",
                    info.login_url
                ),
                vec![],
            )
            .await;
            assert!(
                doc["issuer"].as_str().unwrap().contains(&info.tenant_id),
                "{doc}"
            );
            assert_eq!(
                doc["token_endpoint"].as_str(),
                Some(info.token_url.as_str())
            );
            let keys = get(doc["jwks_uri"].as_str().unwrap().to_string(), vec![]).await;
            assert!(keys["keys"].is_array(), "{keys}");
        }
        // The tenant's managed identity, at the host its operator API names.
        let mi = admin(t, "identity/managed", serde_json::json!({})).await;
        let token = get(
            format!(
                "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com",
                mi["imds_host"].as_str().unwrap()
            ),
            vec![("Metadata", "true".into())],
        )
        .await;
        assert_eq!(
            tid_of(token["access_token"].as_str().unwrap()),
            info.tenant_id
        );
        let token = get(
            format!(
                "{}?api-version=2019-08-01&resource=https://graph.microsoft.com",
                mi["identity_endpoint"].as_str().unwrap()
            ),
            vec![(
                "X-IDENTITY-HEADER",
                mi["identity_header"].as_str().unwrap().into(),
            )],
        )
        .await;
        assert_eq!(
            tid_of(token["access_token"].as_str().unwrap()),
            info.tenant_id
        );
        // The tenant's GitHub token service.
        let gh = admin(
            t,
            "identity/github",
            serde_json::json!({"subject": "repo:o/r:ref:refs/heads/main"}),
        )
        .await;
        let oidc = get(
            format!(
                "{}&audience=api://AzureADTokenExchange",
                gh["request_url"].as_str().unwrap()
            ),
            vec![(
                "Authorization",
                format!("Bearer {}", gh["request_token"].as_str().unwrap()),
            )],
        )
        .await;
        assert!(oidc["value"].is_string(), "{oidc}");
    }

    // entrasync into both tenants: first with one certificate registered on each tenant's app,
    // then with one Kubernetes token file trusted by both.
    let fixtures = format!("{}/tests/data/pfx", env!("CARGO_MANIFEST_DIR"));
    let cert = std::fs::read_to_string(format!("{fixtures}/app.crt")).unwrap();
    let subject = "system:serviceaccount:sync:entrasync";
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let mut by_cert = String::new();
    let mut by_token = String::new();
    for t in &tenants {
        let app = admin(
            t,
            "apps",
            serde_json::json!({"permissions": ["User.Read.All", "Group.Read.All", "GroupMember.Read.All", "Domain.Read.All"], "certificate_pem": cert}),
        )
        .await;
        by_cert.push_str(&format!(
            "      - tenant_id: {}\n        client_id: {}\n        client_certificate_path: {fixtures}/app-aes.pfx\n        client_certificate_password: entrasync-test\n",
            t.info.tenant_domain,
            app["client_id"].as_str().unwrap()
        ));
        admin(
            t,
            "identity/federated",
            serde_json::json!({"client_id": t.info.client_id, "subject": subject}),
        )
        .await;
        by_token.push_str(&format!(
            "      - tenant_id: {}\n        client_id: {}\n        federated_token_file: {}\n",
            t.info.tenant_id,
            t.info.client_id,
            token_file.display()
        ));
    }
    let issued = admin(
        &tenants[0],
        "identity/issue",
        serde_json::json!({"subject": subject}),
    )
    .await;
    std::fs::write(&token_file, issued["token"].as_str().unwrap()).unwrap();
    for (how, entries) in [("certificate", &by_cert), ("workload identity", &by_token)] {
        let store = Store::Sqlite(dir.path().join(format!("{}.db", how.replace(' ', "_"))));
        let cfg = write_config(dir.path(), &config(&server, &store, entries));
        let (code, out, err) = run_cli(&["sync", "--no-progress", cfg.to_str().unwrap()], &[]);
        assert_eq!(code, 0, "{how}: {out}\n{err}");
        for t in &tenants {
            let want: BTreeSet<String> = truth(&http, t).await["users"]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let got = store
                .set(&format!(
                    "SELECT id FROM entraid_users WHERE tenant_id = '{}'",
                    t.info.tenant_id
                ))
                .await;
            assert_eq!(got, want, "{how}: tenant {}", t.info.tenant_id);
        }
    }
    server.shutdown().await;
}
