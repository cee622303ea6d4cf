//! [`OpenLineageConfig`]: where the events go, the job namespace, and the lineage writer's
//! settings, from the builder or from the variables the OpenLineage clients read.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;
use crate::writer::WriterConfig;

/// The job namespace when neither the builder nor `OPENLINEAGE_NAMESPACE` gives one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The HTTP endpoint's path when neither the builder nor `OPENLINEAGE_ENDPOINT` gives one.
pub const DEFAULT_ENDPOINT: &str = "api/v1/lineage";

/// How long one HTTP request may take, connecting included, unless set otherwise.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the events go.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// `POST` each event as JSON to `url` joined with `endpoint`, as the OpenLineage clients'
    /// HTTP transport does.
    Http {
        /// The server, e.g. `http://localhost:5000` (Marquez).
        url: String,
        /// The path on it, [`DEFAULT_ENDPOINT`] unless given.
        endpoint: String,
        /// Sent as `Authorization: Bearer <key>` when given.
        api_key: Option<String>,
        /// The longest one request may take, connecting included.
        timeout: Duration,
    },
    /// Append each event to a file as one line of JSON (the OpenLineage clients' file
    /// transport with `append: true`).
    File {
        /// The file, created if missing.
        path: PathBuf,
    },
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Http {
                url,
                endpoint,
                api_key,
                timeout,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("endpoint", endpoint)
                .field("api_key", &api_key.as_ref().map(|_| "<redacted>"))
                .field("timeout", timeout)
                .finish(),
            Transport::File { path } => f.debug_struct("File").field("path", path).finish(),
        }
    }
}

/// An event the HTTP endpoint refused with a client error (a 4xx status other than 408 and
/// 429): sending it again would be refused again, so it is not retried. The
/// [`OpenLineageConfig::on_rejected`] callback is told, with the event itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RejectedEvent {
    /// The HTTP status.
    pub status: u16,
    /// The start of the response body (at most 1 KiB), which usually says why.
    pub response: String,
    /// The event, as sent.
    pub event: String,
}

/// A callback told about each rejected event.
pub type RejectedCallback = Arc<dyn Fn(&RejectedEvent) + Send + Sync + 'static>;

/// Settings of the OpenLineage events: the transport, the job namespace and the writer that
/// sends them (its own queue, outage buffer and spill file, apart from the history's).
///
/// ```
/// use tracing_etl::lineage::OpenLineageConfig;
///
/// let config = OpenLineageConfig::http("http://localhost:5000")
///     .with_api_key("secret")
///     .with_namespace("warehouse");
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct OpenLineageConfig {
    pub(crate) transport: Transport,
    pub(crate) namespace: String,
    pub(crate) writer: WriterConfig,
    pub(crate) on_rejected: RejectedCallback,
}

debug_fields!(OpenLineageConfig {
    transport,
    namespace,
    writer
});

/// The lineage writer's spill directory unless set otherwise: `lineage` inside the history
/// writer's default, so that replaying history spill files never picks up lineage ones.
pub(crate) fn default_spill_dir() -> PathBuf {
    crate::writer::default_spill_dir().join("lineage")
}

fn default_writer() -> WriterConfig {
    WriterConfig::default()
        .with_spill_dir(default_spill_dir())
        .with_store_error_callback(|e: &StoreError| {
            eprintln!("tracing-etl: OpenLineage transport failed (retrying): {e}");
        })
}

impl OpenLineageConfig {
    /// Events to `transport`, in namespace [`DEFAULT_NAMESPACE`], with the default writer
    /// settings (spilling to `tracing-etl-spill/lineage` in the system's temporary directory).
    pub fn new(transport: Transport) -> Self {
        OpenLineageConfig {
            transport,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            writer: default_writer(),
            on_rejected: Arc::new(|rejected: &RejectedEvent| {
                eprintln!(
                    "tracing-etl: the OpenLineage endpoint rejected an event (HTTP {}): {}; \
                     event not sent again: {}",
                    rejected.status, rejected.response, rejected.event
                );
            }),
        }
    }

    /// Events `POST`ed to `url` + [`DEFAULT_ENDPOINT`].
    pub fn http(url: impl Into<String>) -> Self {
        Self::new(Transport::Http {
            url: url.into(),
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            api_key: None,
            timeout: DEFAULT_HTTP_TIMEOUT,
        })
    }

    /// Events appended to the file at `path`, one per line.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::new(Transport::File { path: path.into() })
    }

    /// The settings the variables give, as the OpenLineage clients read them, or `None` when
    /// they ask for no events (none is set, or `OPENLINEAGE_DISABLED=true`):
    ///
    /// - `OPENLINEAGE__TRANSPORT__TYPE`: `http` or `file`; without it, `http` when
    ///   `OPENLINEAGE_URL` is set;
    /// - HTTP: `OPENLINEAGE_URL` (or `OPENLINEAGE__TRANSPORT__URL`), `OPENLINEAGE_ENDPOINT`
    ///   (or `OPENLINEAGE__TRANSPORT__ENDPOINT`, default [`DEFAULT_ENDPOINT`]),
    ///   `OPENLINEAGE_API_KEY` (or `OPENLINEAGE__TRANSPORT__AUTH__API_KEY`);
    /// - file: `OPENLINEAGE__TRANSPORT__LOG_FILE_PATH`;
    /// - `OPENLINEAGE_NAMESPACE`: the job namespace (default [`DEFAULT_NAMESPACE`]).
    ///
    /// A transport type other than those, or one whose required variable is missing, is an
    /// error.
    pub fn from_env() -> Result<Option<Self>, LineageConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables `var` gives (for tests and for
    /// programs that keep their settings elsewhere).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, LineageConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if get("OPENLINEAGE_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let url = get("OPENLINEAGE_URL").or_else(|| get("OPENLINEAGE__TRANSPORT__URL"));
        let kind = get("OPENLINEAGE__TRANSPORT__TYPE").map(|t| t.trim().to_ascii_lowercase());
        let config = match kind.as_deref() {
            None if url.is_none() => return Ok(None),
            None | Some("http") => {
                let url = url.ok_or(LineageConfigError::Missing {
                    variable: "OPENLINEAGE_URL",
                    transport: "http",
                })?;
                let mut config = Self::http(url);
                if let Some(endpoint) =
                    get("OPENLINEAGE_ENDPOINT").or_else(|| get("OPENLINEAGE__TRANSPORT__ENDPOINT"))
                {
                    config = config.with_endpoint(endpoint);
                }
                if let Some(key) = get("OPENLINEAGE_API_KEY")
                    .or_else(|| get("OPENLINEAGE__TRANSPORT__AUTH__API_KEY"))
                {
                    config = config.with_api_key(key);
                }
                config
            }
            Some("file") => {
                let path = get("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH").ok_or(
                    LineageConfigError::Missing {
                        variable: "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH",
                        transport: "file",
                    },
                )?;
                Self::file(path)
            }
            Some(other) => {
                return Err(LineageConfigError::UnknownTransport(other.to_owned()));
            }
        };
        Ok(Some(match get("OPENLINEAGE_NAMESPACE") {
            Some(namespace) => config.with_namespace(namespace),
            None => config,
        }))
    }

    /// The job namespace of every event.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The HTTP endpoint's path (ignored by the file transport).
    pub fn with_endpoint(mut self, path: impl Into<String>) -> Self {
        if let Transport::Http { endpoint, .. } = &mut self.transport {
            *endpoint = path.into();
        }
        self
    }

    /// The bearer token of the HTTP transport (ignored by the file transport).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        if let Transport::Http { api_key, .. } = &mut self.transport {
            *api_key = Some(key.into());
        }
        self
    }

    /// The longest one HTTP request may take (ignored by the file transport). A request that
    /// takes longer fails and is retried; the writer's store deadline
    /// ([`WriterConfig::with_store_deadline`]) still applies to the whole batch.
    pub fn with_http_timeout(mut self, limit: Duration) -> Self {
        if let Transport::Http { timeout, .. } = &mut self.transport {
            *timeout = limit;
        }
        self
    }

    setters! {
        /// The lineage writer's settings (replacing the defaults, whose spill directory is
        /// `tracing-etl-spill/lineage` in the system's temporary directory: give one apart from
        /// the history writer's here too).
        pub fn with_writer_config(writer: WriterConfig) => writer = writer;

        /// Tells `callback` about each event the HTTP endpoint rejects (see [`RejectedEvent`]);
        /// the default prints it on stderr.
        pub fn on_rejected(callback: impl Fn(&RejectedEvent) + Send + Sync + 'static)
            => on_rejected = Arc::new(callback);
    }

    /// Where the events go.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The job namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

/// Variables that name no usable transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineageConfigError {
    /// `OPENLINEAGE__TRANSPORT__TYPE` names a transport this crate does not have.
    #[error(
        "OPENLINEAGE__TRANSPORT__TYPE={0:?} is not a transport tracing-etl has (http or file)"
    )]
    UnknownTransport(String),
    /// The transport needs a variable that is not set.
    #[error("the OpenLineage {transport} transport needs {variable}")]
    Missing {
        /// The variable.
        variable: &'static str,
        /// The transport that needs it.
        transport: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Option<OpenLineageConfig>, LineageConfigError> {
        OpenLineageConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn no_variable_means_no_events() {
        assert!(from(&[]).unwrap().is_none());
        assert!(from(&[("OPENLINEAGE_NAMESPACE", "ns")]).unwrap().is_none());
        let disabled = [
            ("OPENLINEAGE_URL", "http://localhost:5000"),
            ("OPENLINEAGE_DISABLED", "TRUE"),
        ];
        assert!(from(&disabled).unwrap().is_none());
    }

    #[test]
    fn http_from_the_url_with_endpoint_key_and_namespace() {
        let config = from(&[("OPENLINEAGE_URL", "http://localhost:5000")])
            .unwrap()
            .unwrap();
        assert_eq!(config.namespace(), DEFAULT_NAMESPACE);
        assert_eq!(
            config.transport(),
            &Transport::Http {
                url: "http://localhost:5000".into(),
                endpoint: DEFAULT_ENDPOINT.into(),
                api_key: None,
                timeout: DEFAULT_HTTP_TIMEOUT,
            }
        );
        let config = from(&[
            ("OPENLINEAGE__TRANSPORT__TYPE", "HTTP"),
            ("OPENLINEAGE__TRANSPORT__URL", "https://lineage.example"),
            ("OPENLINEAGE_ENDPOINT", "api/v2/events"),
            ("OPENLINEAGE__TRANSPORT__AUTH__API_KEY", "k"),
            ("OPENLINEAGE_NAMESPACE", "warehouse"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.namespace(), "warehouse");
        let Transport::Http {
            url,
            endpoint,
            api_key,
            ..
        } = config.transport()
        else {
            panic!("http expected");
        };
        assert_eq!(
            (url.as_str(), endpoint.as_str(), api_key.as_deref()),
            ("https://lineage.example", "api/v2/events", Some("k"))
        );
        assert!(
            !format!("{config:?}").contains("\"k\""),
            "the key is redacted"
        );
    }

    #[test]
    fn file_from_its_path() {
        let config = from(&[
            ("OPENLINEAGE__TRANSPORT__TYPE", "file"),
            ("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", "/tmp/events.jsonl"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.transport(),
            &Transport::File {
                path: "/tmp/events.jsonl".into()
            }
        );
    }

    #[test]
    fn a_transport_without_what_it_needs_is_an_error() {
        assert_eq!(
            from(&[("OPENLINEAGE__TRANSPORT__TYPE", "file")]).unwrap_err(),
            LineageConfigError::Missing {
                variable: "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH",
                transport: "file"
            }
        );
        assert!(matches!(
            from(&[("OPENLINEAGE__TRANSPORT__TYPE", "http")]).unwrap_err(),
            LineageConfigError::Missing { .. }
        ));
        let error = from(&[("OPENLINEAGE__TRANSPORT__TYPE", "kafka")]).unwrap_err();
        assert_eq!(error, LineageConfigError::UnknownTransport("kafka".into()));
        assert!(error.to_string().contains("http or file"));
    }
}
