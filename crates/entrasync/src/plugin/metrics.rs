//! Per-table metrics for `cloudquery sync --tables-metrics-location FILE`: the CLI then hosts an
//! OTLP/HTTP receiver and passes `--otel-endpoint HOST:PORT --otel-endpoint-insecure` to the
//! source, which posts the counters of CloudQuery's Go SDK (`scheduler/metrics`) to
//! `/v1/metrics`. The CLI writes them to FILE as a table: resources, errors, panics, start and
//! end time per table and client.
//!
//! Only the handful of OTLP protobuf messages needed are written out here, by hand, rather than
//! pulling in the OpenTelemetry crates.

use crate::sync::{Outcome, TableRun};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// OTLP `AggregationTemporality`: every value is the total since the table started, so the
/// receiver can simply keep the last one it got.
const CUMULATIVE: i32 = 2;

/// How often a running sync posts its metrics: the CLI rewrites FILE every 20 s.
const EVERY: Duration = Duration::from_secs(10);

/// Where the CLI's receiver is, as `serve --otel-endpoint` gave it.
#[derive(Debug)]
pub struct Exporter {
    url: String,
    http: reqwest::Client,
    /// A receiver that cannot be reached is reported once, not every few seconds.
    warned: AtomicBool,
}

impl Exporter {
    /// `endpoint` is `host:port` (the CLI's form) or a URL; `insecure` means plain HTTP.
    pub fn new(endpoint: &str, insecure: bool) -> Exporter {
        let endpoint = endpoint.trim_end_matches('/');
        let base = if endpoint.contains("://") {
            endpoint.to_string()
        } else if insecure {
            format!("http://{endpoint}")
        } else {
            format!("https://{endpoint}")
        };
        Exporter {
            url: format!("{base}/v1/metrics"),
            http: crate::graph::http_client(),
            warned: AtomicBool::new(false),
        }
    }

    /// Posts the metrics of `runs` every few seconds until [`Progress::finish`] posts the final
    /// ones. Dropping the `Progress` (a sync that ends early) stops it too.
    pub fn start(self: &Arc<Self>, runs: Vec<Arc<TableRun>>, client_id: String) -> Progress {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let exporter = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.tick().await;
            loop {
                // An export under way completes before the stop is seen, so that it cannot
                // reach the receiver after the final one.
                tokio::select! {
                    _ = &mut stopped => return (exporter, runs, client_id),
                    _ = tick.tick() => exporter.export(&runs, &client_id).await,
                }
            }
        });
        Progress { stop, task }
    }

    /// Posts the metrics of `runs`. A failure is a warning: metrics never fail a sync.
    pub async fn export(&self, runs: &[Arc<TableRun>], client_id: &str) {
        let body = prost::Message::encode_to_vec(&request(runs, client_id, SystemTime::now()));
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-protobuf")
            .timeout(Duration::from_secs(10))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(
                    tables = runs.len(),
                    url = self.url,
                    "table metrics exported"
                )
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let text: String = text.chars().take(300).collect();
                self.warn(format!("the receiver answered {status}: {text}"));
            }
            Err(e) => {
                // reqwest's own message names only the URL; the cause (refused, timed out) is
                // in its sources.
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    why = format!("{why}: {cause}");
                    source = cause.source();
                }
                self.warn(why)
            }
        }
    }

    fn warn(&self, why: String) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(url = self.url, "table metrics not exported: {why}");
        } else {
            tracing::warn!(
                url = self.url,
                "table metrics not exported: {why}; the sync goes on without them"
            );
        }
    }
}

/// A running sync's periodic export.
pub struct Progress {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(Arc<Exporter>, Vec<Arc<TableRun>>, String)>,
}

impl Progress {
    /// Stops the periodic export and posts the final metrics.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Ok((exporter, runs, client_id)) = self.task.await {
            exporter.export(&runs, &client_id).await;
        }
    }
}

/// The OTLP request for `runs` at `now`: one data point per table and counter. Every point
/// carries `sync.table.name` and `sync.client.id` (the tenant): CLI 6.21.1 fails the whole
/// request when either is missing.
pub fn request(
    runs: &[Arc<TableRun>],
    client_id: &str,
    now: SystemTime,
) -> ExportMetricsServiceRequest {
    let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let mut counters: Vec<(&str, &str, &str, Vec<NumberDataPoint>)> = vec![
        (
            "sync.table.resources",
            "Number of resources synced for a table",
            "/{tot}",
            vec![],
        ),
        (
            "sync.table.errors",
            "Number of errors encountered while syncing a table",
            "/{tot}",
            vec![],
        ),
        (
            "sync.table.panics",
            "Number of panics encountered while syncing a table",
            "/{tot}",
            vec![],
        ),
        (
            "sync.table.start_time",
            "Start time of syncing a table",
            "ns",
            vec![],
        ),
        (
            "sync.table.end_time",
            "End time of syncing a table",
            "ns",
            vec![],
        ),
        (
            "sync.table.duration",
            "Duration of syncing a table",
            "ms",
            vec![],
        ),
    ];
    for run in runs {
        // Wall-clock start from the run's monotonic start: how long ago it began.
        let started = run
            .started
            .lock()
            .expect("not poisoned")
            .map(|s| now.checked_sub(s.elapsed()).unwrap_or(now));
        let elapsed = *run.elapsed.lock().expect("not poisoned");
        let errors = match run.outcome() {
            Some(Outcome::Failed(_) | Outcome::Partial(_)) => 1,
            _ => 0,
        };
        let start = started.map(nanos).unwrap_or(0);
        let point = |value: i64| NumberDataPoint {
            attributes: vec![
                KeyValue::string("sync.table.name", run.table.name),
                KeyValue::string("sync.client.id", client_id),
            ],
            start_time_unix_nano: start,
            time_unix_nano: nanos(now),
            as_int: Some(value),
        };
        let values = [
            Some(run.rows.load(Ordering::Relaxed) as i64),
            Some(errors),
            Some(0),
            started.map(|s| nanos(s) as i64),
            started.zip(elapsed).map(|(s, e)| nanos(s + e) as i64),
            elapsed.map(|e| e.as_millis() as i64),
        ];
        // A table that has not started has no times yet.
        for (counter, value) in counters.iter_mut().zip(values) {
            if let Some(value) = value {
                counter.3.push(point(value));
            }
        }
    }
    let metrics = counters
        .into_iter()
        .filter(|c| !c.3.is_empty())
        .map(|(name, description, unit, data_points)| Metric {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            sum: Some(Sum {
                data_points,
                aggregation_temporality: CUMULATIVE,
                is_monotonic: true,
            }),
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue::string("service.name", super::server::NAME)],
            }),
            scope_metrics: vec![ScopeMetrics {
                // The Go SDK's meter name.
                scope: Some(InstrumentationScope {
                    name: "io.cloudquery".into(),
                    version: super::server::version(),
                }),
                metrics,
            }],
        }],
    }
}

// The OTLP messages of opentelemetry-proto (collector/metrics/v1, metrics/v1, common/v1,
// resource/v1), with only the fields sent. A oneof with one member used is encoded as that
// member; `optional` keeps empty strings and zeros on the wire, where the oneof would.

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(string, tag = "3")]
    pub unit: String,
    /// `oneof data`: `sum` is field 7.
    #[prost(message, optional, tag = "7")]
    pub sum: Option<Sum>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// `oneof value`: `as_int` is field 6.
    #[prost(sfixed64, optional, tag = "6")]
    pub as_int: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

impl KeyValue {
    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                string_value: Some(value.into()),
            }),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// `oneof value`: `string_value` is field 1.
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn an_empty_string_attribute_is_still_on_the_wire() {
        // A oneof member is encoded even when empty; the CLI reads a missing one as nil.
        let bytes = KeyValue::string("sync.client.id", "").encode_to_vec();
        assert_eq!(bytes, b"\n\x0esync.client.id\x12\x02\n\x00");
    }

    #[test]
    fn endpoints_become_the_metrics_url() {
        assert_eq!(
            Exporter::new("localhost:4318", true).url,
            "http://localhost:4318/v1/metrics"
        );
        assert_eq!(
            Exporter::new("localhost:4318", false).url,
            "https://localhost:4318/v1/metrics"
        );
        assert_eq!(
            Exporter::new("http://collector:4318/", false).url,
            "http://collector:4318/v1/metrics"
        );
    }
}
