//! The facets of the events, each with the `_producer` and the `_schemaURL` of the
//! OpenLineage spec version it follows (those of `openlineage-python` 1.54), and the datasets.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::record::{EntityKind, ErrorDetails, ExecutionRecord};

/// The `producer` of every event and the `_producer` of every facet.
pub const PRODUCER: &str = concat!(
    "https://crates.io/crates/tracing-etl/",
    env!("CARGO_PKG_VERSION")
);

/// The schema of the events: OpenLineage 2-0-2.
pub const RUN_EVENT_SCHEMA: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const PARENT_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const ERROR_MESSAGE_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const PROCESSING_ENGINE_SCHEMA: &str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
const JOB_TYPE_SCHEMA: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const OUTPUT_STATISTICS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
const INPUT_STATISTICS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet";

/// The schema of the `tracing_etl` run facet: `docs/openlineage/TracingEtlRunFacet.json` in
/// this crate's package.
pub const TRACING_ETL_FACET_SCHEMA: &str = concat!(
    "https://docs.rs/crate/tracing-etl/",
    env!("CARGO_PKG_VERSION"),
    "/source/docs/openlineage/TracingEtlRunFacet.json#/$defs/TracingEtlRunFacet"
);

/// `parent`: the run and job this one belongs to, and the root (the pipeline).
pub(super) fn parent(namespace: &str, parent: (&Uuid, &str), root: (&Uuid, &str)) -> Value {
    json!({
        "_producer": PRODUCER,
        "_schemaURL": PARENT_SCHEMA,
        "run": { "runId": parent.0.hyphenated().to_string() },
        "job": { "namespace": namespace, "name": parent.1 },
        "root": {
            "run": { "runId": root.0.hyphenated().to_string() },
            "job": { "namespace": namespace, "name": root.1 },
        },
    })
}

/// `errorMessage`: the message, the language, and the full error as the stack trace.
pub(super) fn error_message(error: &ErrorDetails) -> Value {
    let message = error
        .message
        .as_deref()
        .or(error.full.as_deref())
        .or(error.type_name.as_deref())
        .unwrap_or("failed");
    let mut facet = json!({
        "_producer": PRODUCER,
        "_schemaURL": ERROR_MESSAGE_SCHEMA,
        "message": message,
        "programmingLanguage": "Rust",
    });
    if let Some(full) = &error.full {
        facet["stackTrace"] = Value::String(full.clone());
    }
    facet
}

/// `processing_engine`: tracing-etl and its version.
pub(super) fn processing_engine() -> Value {
    json!({
        "_producer": PRODUCER,
        "_schemaURL": PROCESSING_ENGINE_SCHEMA,
        "name": "tracing-etl",
        "version": env!("CARGO_PKG_VERSION"),
        "openlineageAdapterVersion": env!("CARGO_PKG_VERSION"),
    })
}

/// `jobType`: a batch job of the `TRACING_ETL` integration, of type `PIPELINE`, `PROCESS` or
/// `STEP`.
pub(super) fn job_type(kind: EntityKind) -> Value {
    json!({
        "_producer": PRODUCER,
        "_schemaURL": JOB_TYPE_SCHEMA,
        "processingType": "BATCH",
        "integration": "TRACING_ETL",
        "jobType": kind.as_str().to_ascii_uppercase(),
    })
}

/// `tracing_etl`: the record's own ids (the run id as given, whatever the `runId`), so that a
/// lineage UI can link to the trace and to the run history.
pub(super) fn tracing_etl(record: &ExecutionRecord) -> Value {
    let mut facet = json!({
        "_producer": PRODUCER,
        "_schemaURL": TRACING_ETL_FACET_SCHEMA,
        "kind": record.kind.as_str(),
        "runId": record.run.run_id,
        "attempt": record.run.attempt,
        "lastAttempt": record.run.last_attempt,
        "status": record.outcome.status.as_str(),
    });
    let optional = [
        ("correlationId", &record.run.correlation_id),
        ("processRunId", &record.process_run_id),
        ("stepRunId", &record.step_run_id),
        ("traceId", &record.trace_id),
        ("spanId", &record.span_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            facet[key] = Value::String(value.clone());
        }
    }
    if let Some(ms) = record.outcome.duration_ms {
        facet["durationMs"] = json!(ms);
    }
    facet
}

/// A dataset's namespace and name from the name a span gave: a URL `scheme://authority/path`
/// is namespace `scheme://authority` and name `path` (OpenLineage's naming, e.g.
/// `postgres://warehouse:5432` and `sales.orders`), `file:///p` and an absolute path `/p` are
/// namespace `file` and name `/p`, and any other name is in the job's namespace as given.
pub fn dataset_name(job_namespace: &str, given: &str) -> (String, String) {
    if let Some(path) = given.strip_prefix("file://") {
        return ("file".to_owned(), path.to_owned());
    }
    if let Some((scheme, rest)) = given.split_once("://") {
        if !scheme.is_empty() && !rest.is_empty() {
            // A URL with no path names the whole source: its namespace and its name.
            return match rest.split_once('/') {
                Some((authority, path)) if !path.is_empty() => {
                    (format!("{scheme}://{authority}"), path.to_owned())
                }
                _ => (given.trim_end_matches('/').to_owned(), given.to_owned()),
            };
        }
    }
    if given.starts_with('/') {
        return ("file".to_owned(), given.to_owned());
    }
    (job_namespace.to_owned(), given.to_owned())
}

/// The `inputs` (or, with `output`, the `outputs`) of an event: one dataset per name, and
/// with exactly one dataset, `rows` as its `inputStatistics` / `outputStatistics` row count (a
/// step's rows are not split between several datasets).
pub(super) fn datasets(
    job_namespace: &str,
    names: &[String],
    rows: Option<u64>,
    output: bool,
) -> Value {
    let statistics = match (names.len(), rows) {
        (1, Some(rows)) => Some(rows),
        _ => None,
    };
    Value::Array(
        names
            .iter()
            .map(|given| {
                let (namespace, name) = dataset_name(job_namespace, given);
                let mut dataset = json!({ "namespace": namespace, "name": name });
                if let Some(rows) = statistics {
                    let (key, facet_key, schema) = if output {
                        ("outputFacets", "outputStatistics", OUTPUT_STATISTICS_SCHEMA)
                    } else {
                        ("inputFacets", "inputStatistics", INPUT_STATISTICS_SCHEMA)
                    };
                    dataset[key] = json!({
                        facet_key: {
                            "_producer": PRODUCER,
                            "_schemaURL": schema,
                            "rowCount": rows,
                        }
                    });
                }
                dataset
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_follow_openlineage_naming() {
        let name = |given| dataset_name("jobs", given);
        assert_eq!(
            name("postgres://warehouse:5432/sales.orders"),
            ("postgres://warehouse:5432".into(), "sales.orders".into())
        );
        assert_eq!(
            name("s3://bucket/raw/2026/orders.parquet"),
            ("s3://bucket".into(), "raw/2026/orders.parquet".into())
        );
        assert_eq!(
            name("file:///data/x.csv"),
            ("file".into(), "/data/x.csv".into())
        );
        assert_eq!(name("/data/x.csv"), ("file".into(), "/data/x.csv".into()));
        assert_eq!(name("orders"), ("jobs".into(), "orders".into()));
        assert_eq!(
            name("kafka://broker:9092"),
            ("kafka://broker:9092".into(), "kafka://broker:9092".into())
        );
    }

    #[test]
    fn a_single_dataset_carries_the_row_count() {
        let one = datasets("ns", &["/out.csv".to_owned()], Some(42), true);
        assert_eq!(one[0]["outputFacets"]["outputStatistics"]["rowCount"], 42);
        let two = datasets("ns", &["/a".to_owned(), "/b".to_owned()], Some(42), true);
        assert!(two[0].get("outputFacets").is_none());
        let input = datasets("ns", &["/in.csv".to_owned()], Some(7), false);
        assert_eq!(input[0]["inputFacets"]["inputStatistics"]["rowCount"], 7);
    }
}
