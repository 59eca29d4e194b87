//! Collections and singletons read whole on every sync.

use super::{Link, Read, Scheduler, TableRun, list_query};
use crate::graph::GraphError;
use crate::tables::Source;
use std::sync::Arc;

/// Objects of a listing page converted together (see `read_full`).
const OBJECTS_PER_CONVERSION: usize = 64;

impl Scheduler {
    pub(super) async fn read_full(
        &self,
        run: &Arc<TableRun>,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        match run.table.source {
            Source::List { path } => {
                let mut query = list_query(run.table, path, None);
                if let Some(child) = expanded_child(children) {
                    let relationship = child.table.expand.expect("expanded_child checks it");
                    query.push_str(if query.contains('?') { "&" } else { "?" });
                    query.push_str(&format!("$expand={relationship}"));
                }
                let mut url = self.client.url(&query);
                let mut chain = self.client.chain();
                loop {
                    let page = self.client.get_raw_page(&url, &run.traffic).await?;
                    // A few objects at a time as values: a page of 999 wide objects as one
                    // tree of values is several times its JSON, and every listing has one.
                    for raw in page.objects.chunks(OBJECTS_PER_CONVERSION) {
                        let objects = raw
                            .iter()
                            .map(|o| serde_json::from_str(o.get()))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| {
                                GraphError::Malformed(format!(
                                    "{}: an object of a page cannot be read: {e}",
                                    run.table.name
                                ))
                            })?;
                        self.emit(run, &objects, children, jobs, Read::Listing)
                            .await?;
                    }
                    // The destination still gets the page as one batch.
                    run.flush(&self.tx).await?;
                    match Link::of(page.next, page.delta) {
                        Link::Next(next) => {
                            chain.follow(&next)?;
                            url = next;
                        }
                        _ => return Ok(()),
                    }
                }
            }
            Source::Singleton { path } => {
                let url = self
                    .client
                    .url(&format!("/{}{path}", run.table.version.segment()));
                let object = self.client.get(&url, &run.traffic).await?;
                self.emit(run, &[object], children, jobs, Read::Listing)
                    .await?;
                run.flush(&self.tx).await
            }
            Source::Child { .. } | Source::Computed { .. } => Ok(()),
        }
    }
}

/// The child table a listing of its parents reads with `$expand` (Graph expands one
/// relationship a request): the first selected one that allows it.
pub(super) fn expanded_child(children: &[Arc<TableRun>]) -> Option<&Arc<TableRun>> {
    children
        .iter()
        .find(|c| c.table.expand.is_some() && !c.stopped.load(std::sync::atomic::Ordering::Relaxed))
}
