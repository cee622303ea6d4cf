//! [`OpenLineageTransport`]: an [`ExecutionRecordStore`] that turns each record into an
//! OpenLineage run event and sends it, so that the lineage writer drives it as the history
//! writer drives a store: batches, outage buffering, spill file, retries.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;

use super::config::{OpenLineageConfig, RejectedCallback, RejectedEvent, Transport};
use super::event::{event_type, run_uuid, EventBuilder, Forget, Names};
use crate::error::StoreError;
use crate::record::ExecutionRecord;
use crate::store::ExecutionRecordStore;

/// The longest part of a response body kept for a [`RejectedEvent`].
const RESPONSE_BYTES: u64 = 1024;

/// Sends the OpenLineage event of every record it is given, over HTTP or to a file.
///
/// It is the store of the lineage writer that
/// [`ExecutionRecordsLayerBuilder::with_lineage`](crate::ExecutionRecordsLayerBuilder::with_lineage)
/// starts; on its own it can send the records of a spill file left by a lineage writer
/// (`tracing_etl::writer::replay_spill(path, &mut transport)`).
///
/// A batch that fails part-way (the endpoint went down after some of its events) is retried
/// by the writer; the events already sent are not sent again, so that every record makes one
/// event. The names of pipelines and processes are remembered from their records until their
/// run ends, so the events of the entities inside them carry the full job name and their
/// parent: records must come in the order the layer queues them (a spill file keeps it).
pub struct OpenLineageTransport {
    builder: EventBuilder,
    names: Names,
    sink: Sink,
    /// Events (`runId/eventType`) sent from batches that then failed: the writer keeps every
    /// record of a failed batch and writes them again (in batches of its own choosing), and
    /// these are skipped until a batch that holds them succeeds.
    sent_before: HashSet<String>,
}

debug_fields!(OpenLineageTransport { sink });

enum Sink {
    Http {
        agent: ureq::Agent,
        target: String,
        authorization: Option<String>,
        on_rejected: RejectedCallback,
    },
    File {
        path: PathBuf,
        file: Option<File>,
    },
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::Http { target, .. } => f.debug_struct("Http").field("target", target).finish(),
            Sink::File { path, .. } => f.debug_struct("File").field("path", path).finish(),
        }
    }
}

impl OpenLineageTransport {
    /// The transport `config` describes. Nothing is opened or connected yet: a file that
    /// cannot be opened or an endpoint that is down is a failure of the first write, which the
    /// writer retries.
    pub fn new(config: &OpenLineageConfig) -> Self {
        let sink = match &config.transport {
            Transport::Http {
                url,
                endpoint,
                api_key,
                timeout,
            } => {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(*timeout))
                    .user_agent(concat!("tracing-etl/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .into();
                let target = if endpoint.is_empty() {
                    url.clone()
                } else {
                    format!(
                        "{}/{}",
                        url.trim_end_matches('/'),
                        endpoint.trim_start_matches('/')
                    )
                };
                Sink::Http {
                    agent,
                    target,
                    authorization: api_key.as_ref().map(|key| format!("Bearer {key}")),
                    on_rejected: config.on_rejected.clone(),
                }
            }
            Transport::File { path } => Sink::File {
                path: path.clone(),
                file: None,
            },
        };
        OpenLineageTransport {
            builder: EventBuilder::new(config.namespace.clone()),
            names: Names::default(),
            sink,
            sent_before: HashSet::new(),
        }
    }

    /// Remembers the names of the pipelines and processes of `records` without sending
    /// anything, so that the events of entities inside them sent later carry their job names
    /// and parents: for records whose run started elsewhere (the end records `tracing-etl reap`
    /// writes for a dead process's entities, read back from the history).
    pub fn remember(&mut self, records: &[ExecutionRecord]) {
        let mut ignored = Forget::default();
        for record in records {
            self.names.observe(record, &mut ignored);
        }
    }

    /// The events of `records` not sent yet, as JSON text, each with its key; `keys` gets the
    /// key of every record.
    fn events(
        &mut self,
        records: &[ExecutionRecord],
        forget: &mut Forget,
        keys: &mut Vec<String>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let now = chrono::Utc::now();
        let mut events = Vec::with_capacity(records.len());
        for record in records {
            self.names.observe(record, forget);
            let key = format!("{}/{}", run_uuid(record), event_type(record));
            if !self.sent_before.is_empty() {
                keys.push(key.clone());
                if self.sent_before.contains(&key) {
                    continue;
                }
            }
            let event = self.builder.event(record, &self.names, now);
            let text = serde_json::to_string(&event).map_err(|source| StoreError::Json {
                context: "OpenLineage event".into(),
                source,
            })?;
            events.push((key, text));
        }
        Ok(events)
    }
}

impl ExecutionRecordStore for OpenLineageTransport {
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let mut forget = Forget::default();
        let mut keys = Vec::new();
        let events = self.events(records, &mut forget, &mut keys)?;
        let sent = match &mut self.sink {
            Sink::Http {
                agent,
                target,
                authorization,
                on_rejected,
            } => post_all(
                agent,
                target,
                authorization.as_deref(),
                on_rejected,
                &events,
            ),
            Sink::File { path, file } => append_all(path, file, &events).map_err(|e| (0, e)),
        };
        match sent {
            Ok(()) => {
                self.names.forget(forget);
                // These records are the writer's no more: none of them comes again.
                for key in &keys {
                    self.sent_before.remove(key);
                }
                Ok(())
            }
            Err((sent, error)) => {
                self.sent_before
                    .extend(events.into_iter().take(sent).map(|(key, _)| key));
                Err(error)
            }
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if let Sink::File {
            path,
            file: Some(file),
        } = &mut self.sink
        {
            file.sync_data()
                .map_err(|e| StoreError::io(format!("syncing {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// `POST`s each event in turn; on failure, how many were sent (or rejected) before it.
fn post_all(
    agent: &ureq::Agent,
    target: &str,
    authorization: Option<&str>,
    on_rejected: &RejectedCallback,
    events: &[(String, String)],
) -> Result<(), (usize, StoreError)> {
    for (sent, (_, event)) in events.iter().enumerate() {
        let mut request = agent
            .post(target)
            .header("Content-Type", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let fail = |message: String| (sent, StoreError::other(message));
        let mut response = request
            .send(event.as_str())
            .map_err(|e| fail(format!("OpenLineage endpoint {target}: {e}")))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            continue;
        }
        let mut text = String::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(RESPONSE_BYTES)
            .read_to_string(&mut text);
        let text = text.trim().to_owned();
        match status {
            400..=499 if status != 408 && status != 429 => on_rejected(&RejectedEvent {
                status,
                response: text,
                event: event.clone(),
            }),
            _ => {
                return Err(fail(format!(
                    "OpenLineage endpoint {target} answered HTTP {status}: {text}"
                )))
            }
        }
    }
    Ok(())
}

/// Appends every event, one per line, in one write; a write that fails part-way is cut back
/// off, so that a retry adds no duplicate.
fn append_all(
    path: &PathBuf,
    file: &mut Option<File>,
    events: &[(String, String)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let io = |what: &str, e| StoreError::io(format!("{what} {}", path.display()), e);
    if file.is_none() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
        }
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io("opening", e))?;
        *file = Some(opened);
    }
    let Some(handle) = file.as_mut() else {
        return Err(StoreError::invalid_data(
            format!("appending to {}", path.display()),
            "the file is not open",
        ));
    };
    let mut text = String::with_capacity(events.iter().map(|(_, e)| e.len() + 1).sum());
    for (_, event) in events {
        text.push_str(event);
        text.push('\n');
    }
    let before = handle
        .metadata()
        .map_err(|e| io("reading the length of", e))?
        .len();
    if let Err(e) = handle.write_all(text.as_bytes()) {
        if handle.set_len(before).is_err() {
            // The file may hold part of the batch; a fresh handle will append after it.
            *file = None;
        }
        return Err(io("appending to", e));
    }
    Ok(())
}
