use fake_graph::{Config, Profile, Server};
use reqwest::Client;
use serde_json::Value;

pub struct T {
    pub server: Server,
    pub client: Client,
    pub token: String,
}

pub async fn start(cfg: Config) -> T {
    let server = fake_graph::start(cfg).await.expect("start");
    let client = Client::new();
    let token = token(
        &client,
        &server.info.token_url,
        &server.info.client_id,
        &server.info.client_secret,
    )
    .await;
    T {
        server,
        client,
        token,
    }
}

pub async fn tiny() -> T {
    start(Config::new(Profile::Tiny, 1)).await
}

pub async fn token(c: &Client, url: &str, id: &str, secret: &str) -> String {
    let r = c
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

impl T {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.info.graph_url, path)
    }
    /// GET a Graph path (e.g. `/v1.0/users`) → (status, headers, body).
    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        self.get_h(path, &[]).await
    }
    pub async fn get_h(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        let mut rb = self.client.get(url).bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.unwrap();
        let s = r.status().as_u16();
        let h = r.headers().clone();
        let body = r.bytes().await.unwrap();
        (s, h, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
    /// Follow nextLinks; returns all values.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(p) = next {
            let (s, _, b) = self.get(&p).await;
            assert_eq!(s, 200, "{p}: {b}");
            out.extend(b["value"].as_array().unwrap().iter().cloned());
            next = b["@odata.nextLink"].as_str().map(str::to_string);
        }
        out
    }
    pub async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(self.url(&format!("/_fake{path}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

pub fn err_code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("")
}
