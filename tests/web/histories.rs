//! Run histories recorded through the real layer into a real store of each kind the server
//! reads.

use std::path::PathBuf;

use tracing_etl::{ExecutionRecordsLayer, JsonLinesStore, SqliteStore, WriterGuard};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

use crate::cli_support::{nightly, open_stuck, weekly};

/// A store kind.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Sqlite,
    Jsonl,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// Every kind this build reads.
pub fn kinds() -> Vec<Kind> {
    vec![
        Kind::Sqlite,
        Kind::Jsonl,
        #[cfg(feature = "postgres")]
        Kind::Postgres,
    ]
}

/// A history in a temporary directory.
pub struct History {
    _tmp: tempfile::TempDir,
    path: PathBuf,
    pub kind: Kind,
    /// The schema of a PostgreSQL history, dropped with it.
    #[cfg(feature = "postgres")]
    schema: Option<crate::pg_support::TestSchema>,
}

impl History {
    pub fn new(kind: Kind) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let path = match kind {
            Kind::Sqlite => tmp.path().join("runs.db"),
            Kind::Jsonl => tmp.path().join("history"),
            #[cfg(feature = "postgres")]
            Kind::Postgres => PathBuf::new(),
        };
        let history = History {
            _tmp: tmp,
            path,
            kind,
            #[cfg(feature = "postgres")]
            schema: match kind {
                Kind::Postgres => Some(crate::pg_support::TestSchema::new("web")),
                _ => None,
            },
        };
        // The store exists even when nothing is recorded.
        history.record(|| {});
        history
    }

    /// The `--store` URL of this history.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Sqlite => format!("sqlite:{}", self.path.display()),
            Kind::Jsonl => format!("jsonl:{}", self.path.display()),
            #[cfg(feature = "postgres")]
            Kind::Postgres => {
                // The test server's connection string as a store URL, with the schema.
                let schema = &self.pg_schema().name;
                let server = crate::pg_support::url();
                if server.contains("://") {
                    let sep = if server.contains('?') { '&' } else { '?' };
                    format!("{server}{sep}schema={schema}")
                } else {
                    let pairs: Vec<&str> = server.split_whitespace().collect();
                    format!("postgres://?{}&schema={schema}", pairs.join("&"))
                }
            }
        }
    }

    #[cfg(feature = "postgres")]
    pub fn pg_schema(&self) -> &crate::pg_support::TestSchema {
        self.schema.as_ref().expect("a PostgreSQL history")
    }

    /// A layer writing to this history.
    pub fn layer(&self) -> (Box<dyn Layer<Registry> + Send + Sync>, WriterGuard) {
        match self.kind {
            Kind::Sqlite => {
                let (layer, guard) =
                    ExecutionRecordsLayer::new(SqliteStore::open(&self.path).unwrap());
                (layer.boxed(), guard)
            }
            Kind::Jsonl => {
                let (layer, guard) =
                    ExecutionRecordsLayer::new(JsonLinesStore::open(&self.path).unwrap());
                (layer.boxed(), guard)
            }
            #[cfg(feature = "postgres")]
            Kind::Postgres => {
                let (layer, guard) = ExecutionRecordsLayer::new(self.pg_schema().store());
                (layer.boxed(), guard)
            }
        }
    }

    /// Runs `f` under the layer, then shuts the writer down cleanly.
    pub fn record(&self, f: impl FnOnce()) {
        let (layer, guard) = self.layer();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        assert_eq!(guard.shutdown().unwrap().dropped, 0);
    }
}

/// `nightly` run `r-ok` succeeds; run `r-retry` fails on attempt 1 (step `parse`) and succeeds
/// on attempt 2; run `r-bad` fails; `weekly` run `w-1` succeeds; `stuck` run `s-1` is abandoned
/// (its spans still open when its writer stopped).
pub fn standard(kind: Kind) -> History {
    let history = History::new(kind);
    history.record(|| {
        nightly("r-ok", 1, false).unwrap();
        nightly("r-retry", 1, true).unwrap_err();
        nightly("r-retry", 2, false).unwrap();
        nightly("r-bad", 1, true).unwrap_err();
        weekly("w-1");
    });
    let (layer, guard) = history.layer();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck("s-1", true));
    guard.shutdown().unwrap();
    drop(spans);
    history
}
