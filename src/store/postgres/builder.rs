//! [`PostgresStoreBuilder`] and the [`Settings`] it resolves to: the connection string read,
//! defaults filled in, the schema name quoted, TLS chosen.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::connection::Fail;
use super::schema::Sql;
use super::tls::{default_tls_config, libpq_sslmode, take_sslrootcert, tls_config_with_roots, Tls};
use super::{PostgresStore, DEFAULT_APPLICATION_NAME};
use crate::error::StoreError;

const DEFAULT_SCHEMA: &str = "public";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than the server's statement timeout the client waits for an answer before
/// it drops the connection (a server that hangs without cancelling anything).
const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// Identifiers longer than this are silently truncated by PostgreSQL (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Options for [`PostgresStore`]: schema, timeouts, TLS, application name.
///
/// ```no_run
/// # use std::time::Duration;
/// # use tracing_etl::PostgresStore;
/// let store = PostgresStore::builder("host=localhost user=etl dbname=warehouse")
///     .schema("etl")
///     .statement_timeout(Duration::from_secs(10))
///     .application_name("nightly-loader")
///     .connect()?;
/// # Ok::<(), tracing_etl::StoreError>(())
/// ```
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: String,
    connect_timeout: Option<Duration>,
    statement_timeout: Duration,
    application_name: Option<String>,
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string may hold a password: not shown.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("application_name", &self.application_name)
            .field("custom_tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    pub(super) fn new(url: String) -> Self {
        PostgresStoreBuilder {
            url,
            schema: DEFAULT_SCHEMA.to_owned(),
            connect_timeout: None,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            application_name: None,
            tls: None,
        }
    }

    /// The schema that holds the tables (default `public`). The name is taken as it is, case
    /// included (it is always quoted in SQL): `"etl"`, `"Team ETL"`. It must be 1 to 63 bytes
    /// without NUL characters; [`connect`](Self::connect) creates it if it does not exist.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// How long to wait for a connection (per host listed), default 10 s or the connection
    /// string's `connect_timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The server's `statement_timeout` for the store's statements (default 30 s, at least
    /// 1 ms). The client gives up on a call 5 s after that and drops its connection.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The `application_name` of the store's connections, as `pg_stat_activity` shows it
    /// (default: the connection string's, else `tracing-etl`).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// The TLS configuration to use instead of the default (Mozilla roots, or the CA
    /// certificates of the connection string's `sslrootcert` file; no client certificate):
    /// client certificates, … It is used whenever `sslmode` is not `disable`, and wins over
    /// `sslrootcert`.
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Connects, creates the schema and tables if needed and migrates older ones.
    pub fn connect(self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(self, Mode::ReadWrite)
    }

    /// Connects for reading only: nothing is created or changed (the session is
    /// `default_transaction_read_only`), and missing tables are an error. The `tracing-etl`
    /// command-line tool reads this way.
    pub fn connect_read_only(self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(self, Mode::ReadOnly)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    ReadWrite,
    ReadOnly,
}

/// Everything needed to (re)connect, and the SQL that depends on the schema name.
pub(super) struct Settings {
    pub(super) config: Config,
    pub(super) tls: Tls,
    pub(super) mode: Mode,
    /// The schema name, unquoted.
    pub(super) schema: String,
    pub(super) statement_timeout: Duration,
    pub(super) connect_deadline: Duration,
    /// `user@host:port/dbname, schema "…"`, for error messages (no password).
    pub(super) target: String,
    pub(super) sql: Sql,
}

impl Settings {
    pub(super) fn new(builder: PostgresStoreBuilder, mode: Mode) -> Result<Self, StoreError> {
        let schema = builder.schema;
        let quoted = quote_identifier(&schema).map_err(|message| {
            StoreError::invalid_data(format!("postgres store schema {schema:?}"), message)
        })?;
        let (url, root_certificates) = take_sslrootcert(&builder.url)?;
        let mut config =
            Config::from_str(&libpq_sslmode(&url)).map_err(|e| StoreError::Postgres {
                context: "postgres store: read the connection string".into(),
                source: e,
            })?;
        // Per host: the builder's, else the connection string's, else the default.
        let per_host = builder
            .connect_timeout
            .or_else(|| config.get_connect_timeout().copied())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(per_host);
        if let Some(name) = &builder.application_name {
            config.application_name(name);
        } else if config.get_application_name().is_none() {
            config.application_name(DEFAULT_APPLICATION_NAME);
        }
        let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        // Per host tried, TCP and TLS, and once more for `prefer`'s unencrypted fallback.
        let connect_deadline =
            per_host.saturating_mul(hosts.saturating_mul(2)) + Duration::from_secs(1);
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => Tls::Off,
            _ => Tls::Rustls(MakeRustlsConnect::new(
                match (builder.tls, root_certificates.as_deref()) {
                    (Some(tls), _) => tls,
                    // libpq's word for the system's roots: the Mozilla roots here.
                    (None, None | Some("system")) => {
                        default_tls_config().map_err(|e| StoreError::Other(Box::new(e)))?
                    }
                    (None, Some(path)) => tls_config_with_roots(Path::new(path))?,
                },
            )),
        };
        let target = format!("postgres store {}, schema {quoted}", describe(&config));
        Ok(Settings {
            config,
            tls,
            mode,
            schema,
            statement_timeout: builder.statement_timeout,
            connect_deadline,
            target,
            sql: Sql::new(quoted),
        })
    }

    /// How long the client waits for one statement's answer.
    pub(super) fn client_deadline(&self) -> Duration {
        self.statement_timeout + CLIENT_GRACE
    }

    pub(super) fn error(&self, what: &str, fail: Fail) -> StoreError {
        let context = format!("{}: {what}", self.target);
        match fail {
            Fail::Pg(source) => StoreError::Postgres { context, source },
            Fail::Timeout(limit) => StoreError::io(
                context,
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from the server within {limit:?}; connection dropped"),
                ),
            ),
            Fail::Invalid(message) => StoreError::invalid_data(context, message),
        }
    }
}

/// Quotes `name` as an SQL identifier (`"name"`, inner quotes doubled), or says why it cannot be
/// one.
fn quote_identifier(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("a schema name cannot be empty".into());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "a schema name has at most {MAX_IDENTIFIER_BYTES} bytes (this one has {})",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err("a schema name cannot contain NUL characters".into());
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// `user@host:port/dbname` (several hosts comma-separated), never the password.
fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("");
    let dbname = config.get_dbname().unwrap_or(user);
    if user.is_empty() {
        format!("{hosts}/{dbname}")
    } else {
        format!("{user}@{hosts}/{dbname}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_quoted_or_refused() {
        assert_eq!(quote_identifier("etl").unwrap(), "\"etl\"");
        assert_eq!(
            quote_identifier("a\"; DROP SCHEMA public; --").unwrap(),
            "\"a\"\"; DROP SCHEMA public; --\""
        );
        assert!(quote_identifier("").is_err());
        assert!(quote_identifier("nul\0").is_err());
        assert!(quote_identifier(&"x".repeat(64)).is_err());
        assert!(quote_identifier(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let config = Config::from_str("postgres://etl:s3cret@db.example:6543/warehouse").unwrap();
        assert_eq!(describe(&config), "etl@db.example:6543/warehouse");
        let config = Config::from_str("host=a,b port=1,2 user=u password=s3cret").unwrap();
        assert_eq!(describe(&config), "u@a:1,b:2/u");
    }
}
