//! Logs for `entrasync serve`. The CloudQuery CLI reads the plugin's stdout line by line as
//! zerolog JSON: each line needs a lowercase top-level `level` (debug, info, warn, error; other
//! spellings are dropped) and the text under `message`. tracing-subscriber's own JSON writes
//! `"level":"INFO"`, so this small layer writes the lines itself.

use serde_json::{Map, Value};
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Installs the global subscriber for `serve`: zerolog-style JSON on stdout, or text on stderr.
pub fn init(level: &str, json: bool) {
    let level = match level {
        "trace" | "debug" | "info" | "warn" | "error" => level,
        _ => "info",
    };
    // Transport crates are chatty at debug; their details are not the user's concern.
    let filter: Targets =
        format!("{level},hyper=warn,hyper_util=warn,h2=warn,tonic=warn,tower=warn,reqwest=warn")
            .parse()
            .expect("the level is one of the five names");
    if json {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(JsonLines)
            .try_init();
    } else {
        // The builder's own filter stays open (its default is INFO): `filter` decides.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_writer(std::io::stderr)
            .with_target(false)
            .finish()
            .with(filter)
            .try_init();
    }
}

/// One JSON object per event on stdout.
struct JsonLines;

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_event(event);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// zerolog's level names; trace maps to debug, which every CLI version accepts.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

pub(crate) fn format_event(event: &Event<'_>) -> String {
    let mut fields = FieldMap(Map::new());
    event.record(&mut fields);
    let mut object = Map::new();
    object.insert(
        "level".into(),
        Value::String(level_name(event.metadata().level()).into()),
    );
    object.insert(
        "message".into(),
        fields
            .0
            .remove("message")
            .unwrap_or(Value::String(String::new())),
    );
    object.insert(
        "time".into(),
        Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    for (k, v) in fields.0 {
        // `level`, `message` and `time` belong to the envelope.
        let key = if matches!(k.as_str(), "level" | "time") {
            format!("field_{k}")
        } else {
            k
        };
        object.insert(key, v);
    }
    let mut line = Value::Object(object).to_string();
    line.push('\n');
    line
}

struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
}
