//! `tracing-etl compact`: rewrites the small files of a Delta Lake store, each day's as one.
//!
//! Every flush of a writer adds one Parquet file per table and day; compaction merges a day's
//! small files in one commit per table that changes no row (see `DeltaStore::compact`). Other
//! stores have nothing to compact.

use tracing_etl::{record::EntityKind, DeltaStore, StoreUrl};

use crate::error::CliError;
use crate::output::Ui;

pub(crate) fn run(url: &StoreUrl, ui: &mut Ui) -> Result<u8, CliError> {
    // The read-only open refuses a missing root and creates nothing.
    let mut store = match url {
        StoreUrl::Delta(dir) => {
            drop(DeltaStore::open_read_only(dir)?);
            DeltaStore::open(dir)?
        }
        #[cfg(feature = "delta-s3")]
        StoreUrl::DeltaS3(url) => {
            let options = std::collections::HashMap::new();
            drop(DeltaStore::open_s3_read_only(url, &options)?);
            DeltaStore::open_s3(url, &options)?
        }
        _ => {
            return Err(CliError::new(format!(
                "compact rewrites the files of a Delta Lake store (delta:DIR); {} has nothing \
                 to compact",
                url.redacted()
            )))
        }
    };
    let report = store.compact()?;
    let tables = EntityKind::ALL.map(EntityKind::table);
    if ui.json {
        let rows: Vec<serde_json::Value> = tables
            .iter()
            .zip(&report)
            .map(|(table, t)| {
                serde_json::json!({
                    "table": table,
                    "files_before": t.files_before,
                    "files_after": t.files_after,
                    "version": t.version,
                })
            })
            .collect();
        ui.print_json(&serde_json::Value::Array(rows));
    } else {
        for (table, t) in tables.iter().zip(&report) {
            ui.line(match t.version {
                Some(version) => format!(
                    "{table}: {} files -> {} (version {version})",
                    t.files_before, t.files_after
                ),
                None => format!("{table}: {} files, nothing to merge", t.files_before),
            });
        }
    }
    Ok(0)
}
