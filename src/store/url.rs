//! [`StoreUrl`]: one text naming a store, read the same way by the library, the example job and
//! the command-line tool. The rules (schemes, paths, the PostgreSQL `schema` parameter, why a
//! bare path is refused) are documented on the type.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::StoreError;
use crate::store::{ExecutionRecordStore, InMemoryStore};

/// The store names this crate knows, whether this build has their store or not: the scheme, the
/// feature that brings the store, how the store is called in messages and what a URL looks like.
const SCHEMES: &[Scheme] = &[
    Scheme {
        name: "sqlite",
        feature: Some("sqlite"),
        enabled: cfg!(feature = "sqlite"),
        store: "SQLite",
        form: "sqlite:PATH",
    },
    Scheme {
        name: "jsonl",
        feature: Some("jsonl"),
        enabled: cfg!(feature = "jsonl"),
        store: "JSON Lines",
        form: "jsonl:DIR",
    },
    Scheme {
        name: "postgres",
        feature: Some("postgres"),
        enabled: cfg!(feature = "postgres"),
        store: "PostgreSQL",
        form: "postgres://USER@HOST:PORT/DBNAME?schema=NAME",
    },
    Scheme {
        name: "postgresql",
        feature: Some("postgres"),
        enabled: cfg!(feature = "postgres"),
        store: "PostgreSQL",
        form: "postgresql://USER@HOST:PORT/DBNAME?schema=NAME",
    },
    Scheme {
        name: "delta",
        feature: Some("delta"),
        enabled: cfg!(feature = "delta"),
        store: "Delta Lake",
        form: "delta:DIR",
    },
    Scheme {
        name: "memory",
        feature: None,
        enabled: true,
        store: "in-memory",
        form: "memory:",
    },
];

/// `delta:s3://…`: not a scheme of its own, but a store of its own feature.
const DELTA_S3: Scheme = Scheme {
    name: "delta",
    feature: Some("delta-s3"),
    enabled: cfg!(feature = "delta-s3"),
    store: "Delta Lake on S3",
    form: "delta:s3://BUCKET/PREFIX",
};

#[derive(Debug)]
struct Scheme {
    name: &'static str,
    feature: Option<&'static str>,
    enabled: bool,
    store: &'static str,
    form: &'static str,
}

fn scheme(name: &str) -> &'static Scheme {
    SCHEMES
        .iter()
        .find(|s| s.name == name)
        .expect("a scheme of the table")
}

/// The store that a text such as `sqlite:tracing-etl.db` names.
///
/// | URL | store | feature |
/// |---|---|---|
/// | `sqlite:PATH` | [`SqliteStore`](crate::SqliteStore) at `PATH` | `sqlite` |
/// | `jsonl:DIR` | [`JsonLinesStore`](crate::JsonLinesStore) in `DIR` | `jsonl` |
/// | `postgres://USER@HOST:PORT/DBNAME?schema=NAME` (also `postgresql://`) | `PostgresStore` | `postgres` |
/// | `delta:DIR` | `DeltaStore`: three Delta Lake tables under `DIR` | `delta` |
/// | `delta:s3://BUCKET/PREFIX` (also `s3a://`) | `DeltaStore` on S3, configured by the `AWS_*` environment | `delta-s3` |
/// | `memory:` | a new [`InMemoryStore`] | — |
///
/// # Rules
///
/// - The scheme is case-insensitive (`SQLite:` is `sqlite:`) and written back lower-case.
/// - `sqlite:PATH`, `jsonl:DIR`, `delta:DIR`: the path is everything after the colon, byte for byte — no
///   percent-decoding, no query string, no trimming: `sqlite:runs/etl.db` is relative to the
///   working directory, `sqlite:/var/lib/etl/runs.db` absolute. The `//` form
///   (`sqlite:///abs.db`) is refused: other tools read three slashes as a relative path or as
///   an absolute one, and a store URL should mean one thing.
/// - `delta:s3://BUCKET/PREFIX`: an S3 root (a `delta:` path starting with `s3://` or `s3a://`,
///   any case, is never a local directory); the bucket is required, a query or fragment is
///   refused, and the rest is checked when the store opens.
/// - `postgres://…`: libpq's connection URL, percent-encoded as libpq wants, with one parameter
///   of this crate: `schema=NAME`, the schema holding the tables (default `public`), which is
///   taken out before the URL goes to the client. The rest (hosts, ports, `sslmode`, …) is
///   checked when the store connects.
/// - `memory:` takes nothing after the colon.
/// - A text without a scheme (`tracing-etl.db`) is refused with a message suggesting
///   `sqlite:tracing-etl.db`: a store URL always says which store it is, so that a file name
///   with a colon in it is never read as a scheme and a scheme added later never changes what
///   an accepted text means.
///
/// A scheme this build has no store for is an error naming the feature to enable, not an
/// unknown scheme: `postgres://…` in a build without the `postgres` feature says so.
///
/// [`Display`](fmt::Display) writes the URL back (scheme lower-case): parsing what it writes
/// gives the same value, for every value that parsing makes (a path built by hand that is empty
/// or not UTF-8 has no URL that gives it back). It writes a PostgreSQL password as it is; use
/// [`redacted`](Self::redacted) (or `Debug`) for logs and messages.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use tracing_etl::StoreUrl;
///
/// let url: StoreUrl = "sqlite:runs/etl.db".parse()?;
/// assert_eq!(url, StoreUrl::Sqlite("runs/etl.db".into()));
/// assert_eq!(url.to_string(), "sqlite:runs/etl.db");
/// assert_eq!(url.path(), Some(Path::new("runs/etl.db")));
///
/// let url: StoreUrl = "jsonl:/var/lib/etl/history".parse()?;
/// assert_eq!(url.scheme(), "jsonl");
///
/// // No scheme: an error that says what to write instead.
/// let err = "runs.db".parse::<StoreUrl>().unwrap_err();
/// assert!(err.to_string().contains("sqlite:runs.db"), "{err}");
/// # Ok::<(), tracing_etl::store::StoreUrlError>(())
/// ```
///
/// A PostgreSQL URL keeps its password out of `Debug` and [`redacted`](Self::redacted):
///
/// ```
/// use tracing_etl::StoreUrl;
///
/// # #[cfg(feature = "postgres")] {
/// let url: StoreUrl = "postgres://etl:s3cret@db.internal/warehouse?schema=etl".parse()?;
/// let StoreUrl::Postgres(pg) = &url else { unreachable!() };
/// assert_eq!(pg.schema(), Some("etl"));
/// assert_eq!(pg.connection_string(), "postgres://etl:s3cret@db.internal/warehouse");
/// assert_eq!(
///     url.redacted().to_string(),
///     "postgres://etl:***@db.internal/warehouse?schema=etl"
/// );
/// assert!(!format!("{url:?}").contains("s3cret"));
/// # }
/// # Ok::<(), tracing_etl::store::StoreUrlError>(())
/// ```
///
/// Opening the store and handing it to the layer:
///
/// ```
/// use tracing_etl::{ExecutionRecordsLayer, StoreUrl};
/// use tracing_subscriber::prelude::*;
///
/// # let dir = tempfile::tempdir()?;
/// # let text = format!("sqlite:{}", dir.path().join("tracing-etl.db").display());
/// # #[cfg(any())]
/// let text = std::env::var("TRACING_ETL_STORE").unwrap_or("sqlite:tracing-etl.db".into());
/// let url: StoreUrl = text.parse()?;
/// let (layer, guard) = ExecutionRecordsLayer::builder().build(url.open()?);
/// tracing_subscriber::registry().with(layer).init();
/// // … the program runs …
/// drop(guard); // every record is in the store
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `sqlite:PATH`: the SQLite database file at the path.
    Sqlite(PathBuf),
    /// `jsonl:DIR`: the JSON Lines store in the directory.
    JsonLines(PathBuf),
    /// `postgres://…` or `postgresql://…`: a PostgreSQL server, database and schema.
    Postgres(PostgresUrl),
    /// `delta:DIR`: the Delta Lake tables under the directory.
    Delta(PathBuf),
    /// `delta:s3://BUCKET/PREFIX`: the Delta Lake tables under an S3 prefix (the URL after
    /// `delta:`, scheme lower-case).
    DeltaS3(String),
    /// `memory:`: a new, empty [`InMemoryStore`] (for tests: what it holds cannot be read back
    /// through the URL).
    Memory,
}

impl StoreUrl {
    /// The scheme, lower-case: `sqlite`, `jsonl`, `postgres` (or `postgresql`, as written),
    /// `memory`.
    pub fn scheme(&self) -> &'static str {
        match self {
            StoreUrl::Sqlite(_) => "sqlite",
            StoreUrl::JsonLines(_) => "jsonl",
            StoreUrl::Delta(_) | StoreUrl::DeltaS3(_) => "delta",
            StoreUrl::Postgres(pg) if pg.base.starts_with("postgresql:") => "postgresql",
            StoreUrl::Postgres(_) => "postgres",
            StoreUrl::Memory => "memory",
        }
    }

    /// The file or directory of a SQLite, JSON Lines or Delta Lake store.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            StoreUrl::Sqlite(path) | StoreUrl::JsonLines(path) | StoreUrl::Delta(path) => {
                Some(path)
            }
            _ => None,
        }
    }

    /// The schemes this build accepts (those whose store feature is on), in the order of the
    /// table above.
    pub fn accepted_schemes() -> impl Iterator<Item = &'static str> {
        SCHEMES.iter().filter(|s| s.enabled).map(|s| s.name)
    }

    /// The URL with any PostgreSQL password shown as `***`, for logs and messages.
    pub fn redacted(&self) -> RedactedStoreUrl<'_> {
        RedactedStoreUrl(self)
    }

    /// Opens the store for writing (and, for files, creates it): what
    /// [`ExecutionRecordsLayerBuilder::build`](crate::ExecutionRecordsLayerBuilder::build)
    /// takes.
    ///
    /// - `sqlite:PATH`: [`SqliteStore::open`](crate::SqliteStore::open): creates the file if
    ///   needed and brings its schema up to date;
    /// - `jsonl:DIR`: [`JsonLinesStore::open`](crate::JsonLinesStore::open): creates the
    ///   directory if needed and appends to its files;
    /// - `postgres://…`: `PostgresStoreBuilder::connect` with the URL's schema (see
    ///   [`PostgresUrl::builder`] for other settings): connects, creates the schema and tables if
    ///   needed;
    /// - `delta:DIR`: `DeltaStore::open`: creates the directory and its three tables if needed;
    /// - `delta:s3://…`: `DeltaStore::open_s3` with the `AWS_*` environment: creates the three
    ///   tables if needed;
    /// - `memory:`: a new [`InMemoryStore`].
    ///
    /// A store whose feature this build lacks (only possible for a value built by hand: parsing
    /// refuses it) is a [`StoreError::Other`] holding the [`StoreUrlError`].
    pub fn open(&self) -> Result<Box<dyn ExecutionRecordStore>, StoreError> {
        match self {
            #[cfg(feature = "sqlite")]
            StoreUrl::Sqlite(path) => Ok(Box::new(crate::SqliteStore::open(path)?)),
            #[cfg(feature = "jsonl")]
            StoreUrl::JsonLines(dir) => Ok(Box::new(crate::JsonLinesStore::open(dir)?)),
            #[cfg(feature = "postgres")]
            StoreUrl::Postgres(pg) => Ok(Box::new(pg.builder().connect()?)),
            #[cfg(feature = "delta")]
            StoreUrl::Delta(dir) => Ok(Box::new(crate::DeltaStore::open(dir)?)),
            #[cfg(feature = "delta-s3")]
            StoreUrl::DeltaS3(url) => Ok(Box::new(crate::DeltaStore::open_s3(
                url,
                &std::collections::HashMap::new(),
            )?)),
            StoreUrl::Memory => Ok(Box::new(InMemoryStore::new())),
            #[cfg(not(feature = "delta-s3"))]
            StoreUrl::DeltaS3(_) => Err(StoreError::other(feature_disabled(
                self.redacted().to_string(),
                &DELTA_S3,
            ))),
            #[cfg(not(all(
                feature = "sqlite",
                feature = "jsonl",
                feature = "postgres",
                feature = "delta"
            )))]
            other => Err(StoreError::other(feature_disabled(
                other.redacted().to_string(),
                scheme(other.scheme()),
            ))),
        }
    }
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text, |s| s.enabled)
    }
}

/// [`StoreUrl::from_str`], with `enabled` saying which stores this build has.
fn parse(text: &str, enabled: fn(&Scheme) -> bool) -> Result<StoreUrl, StoreUrlError> {
    let Some((name, rest)) = split_scheme(text) else {
        return Err(StoreUrlError::MissingScheme {
            text: text.to_owned(),
        });
    };
    let lower = name.to_ascii_lowercase();
    let Some(known) = SCHEMES.iter().find(|s| s.name == lower) else {
        return Err(StoreUrlError::UnknownScheme {
            text: text.to_owned(),
            scheme: name.to_owned(),
        });
    };
    if !enabled(known) {
        return Err(feature_disabled(redact_url(text).into_owned(), known));
    }
    let invalid = |reason: &str| StoreUrlError::Invalid {
        text: redact_url(text).into_owned(),
        scheme: known.name,
        reason: reason.to_owned(),
    };
    match known.name {
        "sqlite" | "jsonl" | "delta" => {
            let what = if known.name == "sqlite" {
                "a file path"
            } else {
                "a directory path"
            };
            if rest.is_empty() {
                return Err(invalid(&format!("{what} is missing after the colon")));
            }
            if known.name == "delta" {
                if let Some(url) = delta_s3(rest) {
                    if !enabled(&DELTA_S3) {
                        return Err(feature_disabled(text.to_owned(), &DELTA_S3));
                    }
                    return url
                        .map(StoreUrl::DeltaS3)
                        .map_err(|reason| invalid(&reason));
                }
            }
            if rest.starts_with("//") {
                return Err(invalid(&format!(
                    "the `//` form is not used: the path follows the colon directly \
                     ({}:relative/path or {}:/absolute/path)",
                    known.name, known.name
                )));
            }
            let path = PathBuf::from(rest);
            Ok(match known.name {
                "sqlite" => StoreUrl::Sqlite(path),
                "jsonl" => StoreUrl::JsonLines(path),
                _ => StoreUrl::Delta(path),
            })
        }
        "postgres" | "postgresql" => {
            if !rest.starts_with("//") {
                return Err(invalid("a PostgreSQL URL starts with `//` after the colon"));
            }
            PostgresUrl::from_url(known.name, &rest[2..])
                .map(StoreUrl::Postgres)
                .map_err(|reason| invalid(&reason))
        }
        "memory" => {
            if rest.is_empty() {
                Ok(StoreUrl::Memory)
            } else {
                Err(invalid("nothing may follow `memory:`"))
            }
        }
        _ => unreachable!("every scheme of the table has an arm"),
    }
}

impl TryFrom<&str> for StoreUrl {
    type Error = StoreUrlError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) | StoreUrl::JsonLines(path) | StoreUrl::Delta(path) => {
                f.write_str(self.scheme())?;
                f.write_str(":")?;
                let text = path.to_string_lossy();
                // `//x` and `/x` are the same path; only the first would not parse back.
                if text.starts_with("//") {
                    f.write_str("/")?;
                    f.write_str(text.trim_start_matches('/'))
                } else {
                    f.write_str(&text)
                }
            }
            StoreUrl::DeltaS3(url) => write!(f, "delta:{url}"),
            StoreUrl::Postgres(pg) => fmt::Display::fmt(pg, f),
            StoreUrl::Memory => f.write_str("memory:"),
        }
    }
}

/// A [`StoreUrl`] shown with any PostgreSQL password as `***`: see [`StoreUrl::redacted`].
#[derive(Debug, Clone, Copy)]
pub struct RedactedStoreUrl<'a>(&'a StoreUrl);

impl fmt::Display for RedactedStoreUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            StoreUrl::Postgres(pg) => f.write_str(&redact_url(&pg.to_string())),
            other => fmt::Display::fmt(other, f),
        }
    }
}

/// A PostgreSQL store's connection URL and schema: the [`StoreUrl::Postgres`] variant.
///
/// Made by parsing a [`StoreUrl`] or by [`from_connection_string`](Self::from_connection_string)
/// (which also takes libpq's `key=value` form). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PostgresUrl {
    /// `postgres://…` or `postgresql://…` up to the query, not including its `?`.
    base: String,
    /// The query's parameters as written (`key=value`, not decoded), without `schema` and
    /// without empty ones.
    params: Vec<String>,
    /// The `schema` parameter, decoded.
    schema: Option<String>,
}

impl PostgresUrl {
    /// A PostgreSQL connection string in either of libpq's forms: a URL (`postgres://…`,
    /// `postgresql://…`) or `key=value` pairs (`host=db user=etl dbname=warehouse`, values
    /// quoted with `'…'` when they hold spaces). A `schema` key or parameter names the schema.
    /// The `key=value` form becomes the URL `postgres://?host=db&user=etl&dbname=warehouse`.
    ///
    /// ```
    /// use tracing_etl::{StoreUrl, store::PostgresUrl};
    ///
    /// # #[cfg(feature = "postgres")] {
    /// let pg = PostgresUrl::from_connection_string("host=db user=etl password='a b'")?;
    /// assert_eq!(pg.connection_string(), "postgres://?host=db&user=etl&password=a%20b");
    /// let url = StoreUrl::Postgres(pg.with_schema("etl"));
    /// assert_eq!(url.redacted().to_string(), "postgres://?host=db&user=etl&password=***&schema=etl");
    /// # }
    /// # Ok::<(), tracing_etl::store::StoreUrlError>(())
    /// ```
    ///
    /// Without the `postgres` feature this is [`StoreUrlError::FeatureDisabled`].
    pub fn from_connection_string(text: &str) -> Result<Self, StoreUrlError> {
        Self::connection_string_with(text, |s| s.enabled)
    }

    /// [`from_connection_string`](Self::from_connection_string), with `enabled` saying which
    /// stores this build has.
    fn connection_string_with(
        text: &str,
        enabled: fn(&Scheme) -> bool,
    ) -> Result<Self, StoreUrlError> {
        let postgres = scheme("postgres");
        if !enabled(postgres) {
            return Err(feature_disabled(redact_connection_string(text), postgres));
        }
        let is_url = split_scheme(text).is_some_and(|(name, rest)| {
            ["postgres", "postgresql"].contains(&name.to_ascii_lowercase().as_str())
                && rest.starts_with("//")
        });
        if is_url {
            return match parse(text, enabled)? {
                StoreUrl::Postgres(pg) => Ok(pg),
                _ => unreachable!("a postgres scheme parses as a PostgreSQL URL"),
            };
        }
        let invalid = |reason: String| StoreUrlError::Invalid {
            text: redact_connection_string(text),
            scheme: postgres.name,
            reason,
        };
        // `://` says "a URL of another scheme" only when the text is no key=value list: a
        // quoted value may hold it.
        let pairs = match key_value_pairs(text) {
            Ok(pairs) => pairs,
            Err(_) if text.contains("://") => {
                return Err(invalid(
                    "a connection URL starts with postgres:// or postgresql://".into(),
                ))
            }
            Err(reason) => return Err(invalid(reason)),
        };
        let mut url = String::from("postgres://");
        let mut first = true;
        for (key, value) in pairs {
            // In a URL's query, each `host` parameter is one host (a comma is part of the
            // name), while `host=a,b` lists two: one parameter per host.
            let values: Vec<&str> = if key == "host" {
                value.split(',').collect()
            } else {
                vec![value.as_str()]
            };
            for value in values {
                url.push(if first { '?' } else { '&' });
                first = false;
                url.push_str(&encode(&key, QUERY_KEEP));
                url.push('=');
                url.push_str(&encode(value, QUERY_KEEP));
            }
        }
        match parse(&url, enabled)? {
            StoreUrl::Postgres(pg) => Ok(pg),
            _ => unreachable!("a postgres scheme parses as a PostgreSQL URL"),
        }
    }

    /// Parses what follows `scheme://`.
    fn from_url(scheme: &str, rest: &str) -> Result<Self, String> {
        // As `tokio-postgres` reads it: the credentials end at the first `@`, the query starts
        // at the first `?` after them.
        let after_credentials = rest.find('@').map_or(0, |at| at + 1);
        let (head, query) = match rest[after_credentials..].find('?') {
            Some(q) => rest.split_at(after_credentials + q),
            None => (rest, ""),
        };
        let mut params = Vec::new();
        let mut schema = None;
        for param in query.strip_prefix('?').unwrap_or("").split('&') {
            if param.is_empty() {
                continue;
            }
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            if decode(key).as_deref() == Some("schema") {
                if schema.is_some() {
                    return Err("`schema` is given twice".into());
                }
                let value = decode(value).ok_or("the schema name is not UTF-8 once decoded")?;
                schema = Some(value);
            } else {
                params.push(param.to_owned());
            }
        }
        Ok(PostgresUrl {
            base: format!("{scheme}://{head}"),
            params,
            schema,
        })
    }

    /// The schema named by the URL's `schema` parameter; `None` means the store's default,
    /// `public`.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The same server and database, with the tables in `schema`.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The URL to hand to the PostgreSQL client: the URL without `schema`. It holds the
    /// password, if any.
    pub fn connection_string(&self) -> String {
        let mut url = self.base.clone();
        if !self.params.is_empty() {
            url.push('?');
            url.push_str(&self.params.join("&"));
        }
        url
    }

    /// A [`PostgresStoreBuilder`](crate::store::PostgresStoreBuilder) for this URL and schema, for
    /// settings the URL does not carry (timeouts, TLS, application name).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// use tracing_etl::StoreUrl;
    ///
    /// let StoreUrl::Postgres(pg) = "postgres://etl@db/warehouse?schema=etl".parse()? else {
    ///     unreachable!()
    /// };
    /// let store = pg.builder().statement_timeout(Duration::from_secs(10)).connect()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "postgres")]
    pub fn builder(&self) -> crate::store::PostgresStoreBuilder {
        let builder = crate::PostgresStore::builder(self.connection_string());
        match &self.schema {
            Some(schema) => builder.schema(schema.clone()),
            None => builder,
        }
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.connection_string())?;
        if let Some(schema) = &self.schema {
            f.write_str(if self.params.is_empty() { "?" } else { "&" })?;
            f.write_str("schema=")?;
            f.write_str(&encode(schema, ""))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&redact_url(&self.to_string()))
            .finish()
    }
}

/// Why a text is not a [`StoreUrl`]. Every variant holds the text (a PostgreSQL password
/// replaced by `***`), and every message lists what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// No scheme: `tracing-etl.db` rather than `sqlite:tracing-etl.db`.
    #[error("{}", missing_scheme(text))]
    MissingScheme {
        /// The text given.
        text: String,
    },
    /// A scheme this crate does not know.
    #[error(
        "{text:?}: unknown store URL scheme `{scheme}:` (accepted: {})",
        accepted_forms()
    )]
    UnknownScheme {
        /// The text given.
        text: String,
        /// The scheme, as written.
        scheme: String,
    },
    /// A scheme this crate knows, whose store this build leaves out.
    #[error(
        "{text:?}: this build of tracing-etl has no {store} store: enable the `{feature}` \
         feature (accepted: {})",
        accepted_forms()
    )]
    FeatureDisabled {
        /// The text given.
        text: String,
        /// The scheme, lower-case.
        scheme: &'static str,
        /// How the store is called: `PostgreSQL`, `SQLite`, `JSON Lines`.
        store: &'static str,
        /// The cargo feature that brings the store.
        feature: &'static str,
    },
    /// A known scheme with a malformed rest.
    #[error(
        "{text:?} is not a valid {scheme} store URL: {reason} (expected {})",
        scheme_form(scheme)
    )]
    Invalid {
        /// The text given.
        text: String,
        /// The scheme, lower-case.
        scheme: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl StoreUrlError {
    /// The text that was refused (a PostgreSQL password replaced by `***`).
    pub fn text(&self) -> &str {
        match self {
            StoreUrlError::MissingScheme { text }
            | StoreUrlError::UnknownScheme { text, .. }
            | StoreUrlError::FeatureDisabled { text, .. }
            | StoreUrlError::Invalid { text, .. } => text,
        }
    }
}

fn feature_disabled(text: String, scheme: &Scheme) -> StoreUrlError {
    StoreUrlError::FeatureDisabled {
        text,
        scheme: scheme.name,
        store: scheme.store,
        feature: scheme.feature.unwrap_or("default"),
    }
}

fn missing_scheme(text: &str) -> String {
    if text.is_empty() {
        format!(
            "an empty text is not a store URL (accepted: {})",
            accepted_forms()
        )
    } else {
        format!(
            "{text:?} is not a store URL: it has no scheme (for a SQLite file write {:?}; \
             accepted: {})",
            format!("sqlite:{text}"),
            accepted_forms()
        )
    }
}

/// `sqlite:PATH, jsonl:DIR, …`: the forms this build accepts.
/// The S3 root of a `delta:` text (what follows `delta:`), if it names one: `None` for a local
/// path; the URL with its scheme lower-case, or why it is not an S3 root.
fn delta_s3(rest: &str) -> Option<Result<String, String>> {
    let (scheme, after) = rest.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "s3" && scheme != "s3a" {
        return None;
    }
    let bucket = after.split('/').next().unwrap_or_default();
    Some(if bucket.is_empty() {
        Err(format!(
            "the bucket is missing: delta:{scheme}://BUCKET/PREFIX"
        ))
    } else if after.contains(['?', '#']) {
        Err("an S3 root has no ?query or #fragment: options come from the AWS_* environment".into())
    } else {
        Ok(format!("{scheme}://{after}"))
    })
}

fn accepted_forms() -> String {
    SCHEMES
        .iter()
        .filter(|s| s.enabled && s.name != "postgresql")
        .map(|s| match s.name {
            "postgres" => "postgres://… (or postgresql://…)",
            _ => s.form,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn scheme_form(name: &str) -> &'static str {
    scheme(name).form
}

/// The scheme and the rest of `text`, when it starts with an RFC 3986 scheme and a colon.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (name, rest) = text.split_once(':')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some((name, rest))
}

/// Characters kept as they are in an encoded query value besides the unreserved ones: those a
/// libpq URL reads literally there (`host=/run/postgresql`, `port=5432,5433`, `host=::1`).
const QUERY_KEEP: &str = "/:,[]";

/// Percent-encodes every byte of `text` but ASCII letters, digits, `-._~` and `keep`.
fn encode(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let c = char::from(byte);
        if byte.is_ascii_alphanumeric()
            || "-._~".contains(c)
            || (byte.is_ascii() && keep.contains(c))
        {
            out.push(c);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-decodes `text` as `tokio-postgres` does (a `%` not followed by two hex digits stays
/// as it is); `None` when the result is not UTF-8.
pub(crate) fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                // Two hex digits make a byte.
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `text` with the password of a `postgres://` / `postgresql://` URL (in `user:password@` or a
/// `password=` parameter) as `***`; any other text as it is.
fn redact_url(text: &str) -> Cow<'_, str> {
    let Some((name, rest)) = split_scheme(text) else {
        return Cow::Borrowed(text);
    };
    let lower = name.to_ascii_lowercase();
    let Some(rest) = rest
        .strip_prefix("//")
        .filter(|_| lower == "postgres" || lower == "postgresql")
    else {
        return Cow::Borrowed(text);
    };
    let mut out = format!("{name}://");
    let mut tail = rest;
    if let Some(at) = rest.find('@') {
        let credentials = &rest[..at];
        match credentials.split_once(':') {
            Some((user, _)) => {
                out.push_str(user);
                out.push_str(":***@");
            }
            None => {
                out.push_str(credentials);
                out.push('@');
            }
        }
        tail = &rest[at + 1..];
    }
    let (head, query) = match tail.find('?') {
        Some(q) => tail.split_at(q),
        None => (tail, ""),
    };
    out.push_str(head);
    if let Some(query) = query.strip_prefix('?') {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if decode(key).as_deref() == Some("password") => {
                    format!("{key}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// A connection string in either form with its password as `***` (for the `key=value` form:
/// the value of every `password` key, quoted or not).
fn redact_connection_string(text: &str) -> String {
    if text.contains("://") {
        return redact_url(text).into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("password") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        out.push_str("password");
        let after = &from["password".len()..];
        let value_at = after.len() - after.trim_start().len();
        let Some(value) = after.trim_start().strip_prefix('=') else {
            rest = after;
            continue;
        };
        out.push_str(&after[..value_at]);
        out.push('=');
        let spaces = value.len() - value.trim_start().len();
        out.push_str(&value[..spaces]);
        let value = &value[spaces..];
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let close = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str("***");
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// libpq's `key=value` connection string as pairs, read as `tokio-postgres` reads it: keys
/// and values separated by `=` (spaces around it allowed), pairs by white space, values quoted
/// with `'` when they hold spaces, `\` escaping the next character.
pub(crate) fn key_value_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.char_indices().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_ws(&mut chars);
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|&(_, c)| !c.is_whitespace() && c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if let Some((i, c)) = chars.next() {
                return Err(format!("unexpected `{c}` at byte {i}: expected a keyword"));
            }
            break;
        }
        skip_ws(&mut chars);
        match chars.next() {
            Some((_, '=')) => {}
            Some((i, c)) => {
                return Err(format!(
                    "unexpected `{c}` at byte {i}: expected `=` after `{key}`"
                ))
            }
            None => return Err(format!("`{key}` has no value")),
        }
        skip_ws(&mut chars);
        let mut value = String::new();
        if chars.next_if(|&(_, c)| c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => {
                        if let Some((_, c)) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("the quoted value of `{key}` is not closed")),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|&(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some((_, c)) = chars.next() {
                        value.push(c);
                    }
                } else {
                    value.push(c);
                }
            }
            if value.is_empty() {
                return Err(format!("`{key}` has no value"));
            }
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<StoreUrl, StoreUrlError> {
        text.parse()
    }

    use super::parse as parse_with;

    #[test]
    fn file_stores_take_the_path_as_written() {
        for (text, path) in [
            ("sqlite:tracing-etl.db", "tracing-etl.db"),
            ("sqlite:runs/etl.db", "runs/etl.db"),
            ("sqlite:/var/lib/etl/runs.db", "/var/lib/etl/runs.db"),
            ("sqlite:./a b/%20?x=1#y", "./a b/%20?x=1#y"),
            ("SQLite:x.db", "x.db"),
            ("sqlite:c:x.db", "c:x.db"),
        ] {
            let url = parse(text).unwrap();
            assert_eq!(url, StoreUrl::Sqlite(path.into()), "{text}");
            assert_eq!(url.path(), Some(std::path::Path::new(path)));
        }
        assert_eq!(
            parse("jsonl:history").unwrap(),
            StoreUrl::JsonLines("history".into())
        );
        assert_eq!(parse("JSONL:/tmp/h/").unwrap().to_string(), "jsonl:/tmp/h/");
        #[cfg(feature = "delta")]
        {
            assert_eq!(parse("delta:lake").unwrap(), StoreUrl::Delta("lake".into()));
            assert_eq!(parse("Delta:/tmp/l/").unwrap().to_string(), "delta:/tmp/l/");
        }
        assert_eq!(parse("memory:").unwrap(), StoreUrl::Memory);
        assert_eq!(parse("Memory:").unwrap().to_string(), "memory:");
    }

    #[test]
    fn malformed_urls_say_what_is_wrong_and_what_is_accepted() {
        let err = parse("tracing-etl.db").unwrap_err();
        assert!(
            matches!(err, StoreUrlError::MissingScheme { .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("\"sqlite:tracing-etl.db\""), "{message}");
        assert!(message.contains("jsonl:DIR"), "{message}");
        for bare in ["/abs/x.db", "./x.db", "", "1x:y", ":x", "runs"] {
            assert!(
                matches!(parse(bare), Err(StoreUrlError::MissingScheme { .. })),
                "{bare:?}"
            );
        }

        let err = parse("mysql://db/x").unwrap_err();
        assert_eq!(
            err,
            StoreUrlError::UnknownScheme {
                text: "mysql://db/x".into(),
                scheme: "mysql".into()
            }
        );
        assert!(err.to_string().contains("sqlite:PATH"), "{err}");
        assert_eq!(err.text(), "mysql://db/x");

        for (text, reason) in [
            ("sqlite:", "missing"),
            ("jsonl:", "missing"),
            ("sqlite:///abs.db", "`//` form"),
            ("sqlite://rel.db", "`//` form"),
            ("memory:x", "nothing may follow"),
            ("memory://", "nothing may follow"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, StoreUrlError::Invalid { .. }), "{err:?}");
            let message = err.to_string();
            assert!(message.contains(reason), "{text}: {message}");
            assert!(message.contains(&format!("{text:?}")), "{message}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_keep_the_url_and_take_out_the_schema() {
        let url =
            parse("postgres://etl:pw@db:5433/warehouse?sslmode=require&schema=team%20etl").unwrap();
        let StoreUrl::Postgres(pg) = &url else {
            panic!("{url:?}")
        };
        assert_eq!(pg.schema(), Some("team etl"));
        assert_eq!(
            pg.connection_string(),
            "postgres://etl:pw@db:5433/warehouse?sslmode=require"
        );
        assert_eq!(
            url.to_string(),
            "postgres://etl:pw@db:5433/warehouse?sslmode=require&schema=team%20etl"
        );
        assert_eq!(url.scheme(), "postgres");

        let url = parse("PostgreSQL://db/x?schema=etl").unwrap();
        assert_eq!(url.to_string(), "postgresql://db/x?schema=etl");
        assert_eq!(url.scheme(), "postgresql");

        let StoreUrl::Postgres(pg) = parse("postgres://db/x?&&").unwrap() else {
            unreachable!()
        };
        assert_eq!(
            (pg.connection_string().as_str(), pg.schema()),
            ("postgres://db/x", None)
        );

        // `?` inside the credentials does not start the query.
        let StoreUrl::Postgres(pg) = parse("postgres://u:p?w@db/x?schema=s").unwrap() else {
            unreachable!()
        };
        assert_eq!(pg.connection_string(), "postgres://u:p?w@db/x");
        assert_eq!(pg.schema(), Some("s"));

        for (text, reason) in [
            ("postgres:db/x", "starts with `//`"),
            ("postgres://db/x?schema=a&schema=b", "twice"),
            ("postgres://db/x?schema=%FF", "UTF-8"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn passwords_stay_out_of_debug_errors_and_redacted_text() {
        let url = parse("postgres://etl:s3cret@db/x?password=s3cret&schema=etl").unwrap();
        assert_eq!(
            url.redacted().to_string(),
            "postgres://etl:***@db/x?password=***&schema=etl"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(url.to_string().contains("s3cret"), "Display round-trips");
        let err = parse("postgres://etl:s3cret@db/x?schema=a&schema=b").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.text().contains("etl:***@db"), "{err:?}");
        let err = PostgresUrl::from_connection_string("host=db password = 's3 cret' port='x")
            .unwrap_err();
        assert_eq!(err.text(), "host=db password = *** port='x");
        assert!(!err.to_string().contains("s3"), "{err}");
        assert_eq!(
            redact_connection_string("password=s3cret user=u password='a\\'b c' x"),
            "password=*** user=u password=*** x"
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn key_value_connection_strings_become_urls() {
        let pg = PostgresUrl::from_connection_string(
            "host=127.0.0.1 port = 5432 user=postgres dbname='my db' options='-c a=\\'b\\''",
        )
        .unwrap();
        assert_eq!(
            pg.connection_string(),
            "postgres://?host=127.0.0.1&port=5432&user=postgres&dbname=my%20db\
             &options=-c%20a%3D%27b%27"
        );
        assert_eq!(pg.schema(), None);
        let pg = PostgresUrl::from_connection_string("host=/run/postgresql schema=etl").unwrap();
        assert_eq!(pg.connection_string(), "postgres://?host=/run/postgresql");
        assert_eq!(pg.schema(), Some("etl"));
        let url = "postgresql://u@h/d?schema=s";
        assert_eq!(
            StoreUrl::Postgres(PostgresUrl::from_connection_string(url).unwrap()).to_string(),
            url
        );
        for (text, reason) in [
            ("host", "no value"),
            ("host=", "no value"),
            ("host='x", "not closed"),
            ("=x", "expected a keyword"),
            ("host x", "expected `=`"),
            ("mysql://h/d", "starts with postgres://"),
        ] {
            let err = PostgresUrl::from_connection_string(text).unwrap_err();
            assert!(err.to_string().contains(reason), "{text}: {err}");
        }
        // A quoted value may hold `://`: the text is still a key=value list.
        let pg = PostgresUrl::from_connection_string("host=h user='://' password=a").unwrap();
        assert!(pg.connection_string().starts_with("postgres://"), "{pg:?}");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_driver_reads_what_a_store_url_hands_it() {
        use std::str::FromStr as _;
        let StoreUrl::Postgres(pg) =
            parse("postgres://etl:p%40ss@db:5433/ware%20house?connect_timeout=3&schema=etl")
                .unwrap()
        else {
            unreachable!()
        };
        let config = tokio_postgres::Config::from_str(&pg.connection_string()).unwrap();
        assert_eq!(config.get_user(), Some("etl"));
        assert_eq!(config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(config.get_dbname(), Some("ware house"));
        assert_eq!(config.get_ports(), [5433]);

        let pg = PostgresUrl::from_connection_string(
            "host=h,/run/pg port=1,2 user='a b' password=x&y=z dbname=d",
        )
        .unwrap();
        let config = tokio_postgres::Config::from_str(&pg.connection_string()).unwrap();
        assert_eq!(config.get_user(), Some("a b"));
        assert_eq!(config.get_password(), Some(&b"x&y=z"[..]));
        assert_eq!(config.get_dbname(), Some("d"));
        assert_eq!(config.get_ports(), [1, 2]);
        assert_eq!(config.get_hosts().len(), 2);
    }

    /// A build with every store but the one of `feature`.
    fn without(feature: &'static str) -> fn(&Scheme) -> bool {
        match feature {
            "postgres" => |s| s.feature != Some("postgres"),
            "sqlite" => |s| s.feature != Some("sqlite"),
            "delta" => |s| s.feature != Some("delta"),
            _ => |s| s.feature != Some("jsonl"),
        }
    }

    #[test]
    fn a_store_without_its_feature_names_the_feature() {
        for (text, feature, store) in [
            ("postgres://u:s3cret@db/x", "postgres", "PostgreSQL"),
            ("PostgreSQL://db/x", "postgres", "PostgreSQL"),
            ("sqlite:x.db", "sqlite", "SQLite"),
            ("jsonl:dir", "jsonl", "JSON Lines"),
            ("delta:lake", "delta", "Delta Lake"),
        ] {
            let err = parse_with(text, without(feature)).unwrap_err();
            assert!(
                matches!(err, StoreUrlError::FeatureDisabled { feature: f, .. } if f == feature),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains(&format!("no {store} store: enable the `{feature}` feature")),
                "{message}"
            );
            assert!(!message.contains("s3cret"), "{message}");
        }
        // Even a malformed rest: the missing feature is what to fix first.
        let err = parse_with("postgres:nonsense", without("postgres")).unwrap_err();
        assert!(
            matches!(err, StoreUrlError::FeatureDisabled { .. }),
            "{err:?}"
        );
        let err =
            PostgresUrl::connection_string_with("host=db password=s3cret", without("postgres"))
                .unwrap_err();
        assert!(
            matches!(err, StoreUrlError::FeatureDisabled { .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("s3cret"), "{err}");
        // The others still parse.
        assert!(parse_with("sqlite:x.db", without("postgres")).is_ok());
    }

    #[test]
    fn delta_s3_roots_parse_or_name_their_feature() {
        for (text, url) in [
            ("delta:s3://bucket/prefix", "s3://bucket/prefix"),
            ("Delta:S3://bucket/a/b/", "s3://bucket/a/b/"),
            ("delta:s3a://bucket", "s3a://bucket"),
        ] {
            let parsed = parse_with(text, |_| true);
            assert_eq!(parsed.unwrap(), StoreUrl::DeltaS3(url.into()), "{text}");
            let shown = StoreUrl::DeltaS3(url.into()).to_string();
            assert_eq!(shown, format!("delta:{url}"));
            assert_eq!(StoreUrl::DeltaS3(url.into()).path(), None);
        }
        // Without the feature, the error names it (whether the rest is right or not).
        for text in ["delta:s3://bucket/prefix", "delta:s3://"] {
            let err = parse_with(text, |s| s.feature != Some("delta-s3")).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreUrlError::FeatureDisabled {
                        feature: "delta-s3",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("`delta-s3` feature"), "{err}");
        }
        for (text, reason) in [
            ("delta:s3://", "bucket is missing"),
            ("delta:s3:///prefix", "bucket is missing"),
            ("delta:s3://b/p?region=x", "no ?query"),
        ] {
            let err = parse_with(text, |_| true).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
        // Other schemes after `delta:` stay local paths.
        assert_eq!(
            parse_with("delta:gs-like/s4://x", |_| true).unwrap(),
            StoreUrl::Delta("gs-like/s4://x".into())
        );
        assert_eq!(
            parse("delta:s3://b/p").is_ok(),
            cfg!(feature = "delta-s3"),
            "the build's own answer follows its features"
        );
    }

    #[test]
    fn accepted_schemes_follow_the_features() {
        let accepted: Vec<_> = StoreUrl::accepted_schemes().collect();
        assert_eq!(accepted.contains(&"sqlite"), cfg!(feature = "sqlite"));
        assert_eq!(accepted.contains(&"jsonl"), cfg!(feature = "jsonl"));
        assert_eq!(accepted.contains(&"postgres"), cfg!(feature = "postgres"));
        assert_eq!(accepted.contains(&"delta"), cfg!(feature = "delta"));
        assert!(accepted.contains(&"memory"));
    }

    #[test]
    fn a_path_with_doubled_leading_slashes_displays_as_one_that_parses_back() {
        let url = StoreUrl::Sqlite("//srv/runs.db".into());
        assert_eq!(url.to_string(), "sqlite:/srv/runs.db");
        assert_eq!(parse(&url.to_string()).unwrap(), url);
    }

    #[test]
    fn memory_opens_an_empty_store() {
        let mut store = parse("memory:").unwrap().open().unwrap();
        store.flush().unwrap();
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_opens_and_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let url = parse(&format!("sqlite:{}", path.display())).unwrap();
        drop(url.open().unwrap());
        assert!(crate::SqliteStore::open_read_only(&path).is_ok());
    }

    #[cfg(feature = "jsonl")]
    #[test]
    fn jsonl_opens_and_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history");
        drop(StoreUrl::JsonLines(path.clone()).open().unwrap());
        assert!(path.is_dir());
    }

    /// A path a store URL can hold: not empty, no NUL, no leading `//`.
    fn path_text() -> impl Strategy<Value = String> {
        "[^\u{0}]{1,40}".prop_filter("no // form", |p| !p.starts_with("//"))
    }

    proptest! {
        #[test]
        fn file_urls_round_trip(path in path_text(), jsonl in any::<bool>()) {
            let url = if jsonl {
                StoreUrl::JsonLines(path.clone().into())
            } else {
                StoreUrl::Sqlite(path.clone().into())
            };
            if StoreUrl::accepted_schemes().any(|s| s == url.scheme()) {
                let text = url.to_string();
                prop_assert_eq!(parse(&text).unwrap(), url);
                prop_assert!(text.ends_with(&path));
            }
        }

        /// Whatever parses displays as a text that parses to the same value.
        #[test]
        fn display_round_trips_whatever_parses(
            scheme in prop::sample::select(vec![
                "sqlite:", "jsonl:", "postgres://", "PostgreSQL://", "memory:", "x:", "",
            ]),
            rest in any::<String>(),
        ) {
            let text = format!("{scheme}{rest}");
            if let Ok(url) = parse(&text) {
                let shown = url.to_string();
                prop_assert_eq!(parse(&shown).unwrap(), url.clone(), "{:?} -> {:?}", text, shown);
                prop_assert_eq!(parse(&shown).unwrap().to_string(), shown);
            }
        }

        #[cfg(feature = "postgres")]
        #[test]
        fn postgres_schemas_round_trip(
            schema in any::<String>(),
            params in prop::collection::vec("[a-z_]{1,8}=[a-zA-Z0-9%._-]{0,8}", 0..4),
        ) {
            let mut text = String::from("postgres://u@h:5432/db");
            for (i, p) in params.iter().enumerate() {
                text.push(if i == 0 { '?' } else { '&' });
                text.push_str(p);
            }
            let StoreUrl::Postgres(pg) = parse(&text).unwrap() else { unreachable!() };
            let with_schema = StoreUrl::Postgres(pg.clone().with_schema(schema.clone()));
            let StoreUrl::Postgres(back) = parse(&with_schema.to_string()).unwrap() else {
                unreachable!()
            };
            prop_assert_eq!(back.schema(), Some(schema.as_str()));
            prop_assert_eq!(back.connection_string(), pg.connection_string());
        }

        #[cfg(feature = "postgres")]
        #[test]
        fn key_value_values_survive_the_conversion(
            user in "[^\u{0}]{1,20}",
            password in "[^\u{0}]{1,20}",
        ) {
            use std::str::FromStr as _;
            let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
            let text = format!("host=h user={} password={}", quote(&user), quote(&password));
            let pg = PostgresUrl::from_connection_string(&text).unwrap();
            let config = tokio_postgres::Config::from_str(&pg.connection_string()).unwrap();
            prop_assert_eq!(config.get_user(), Some(user.as_str()));
            prop_assert_eq!(config.get_password(), Some(password.as_bytes()));
        }
    }
}
