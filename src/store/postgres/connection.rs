//! The connection: connecting and setting up the session, running
//! a call with a deadline, and telling a lost connection from a failed statement.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

use super::builder::{Mode, Settings};
use super::schema::{check_tables, migrate};
use super::tls::{tls_failed, Tls};
use super::write::{write_batch, write_heartbeat, Batch, Prepared};
use crate::record::RecorderHeartbeat;

/// A connection and what was prepared on it.
pub(super) struct Live {
    pub(super) client: Client,
    pub(super) task: JoinHandle<()>,
    pub(super) prepared: Option<Prepared>,
    /// The schema version of the tables (older than this release's only when read-only).
    pub(super) version: u32,
}

/// Why a call failed, before it gets its context.
#[derive(Debug)]
pub(super) enum Fail {
    Pg(tokio_postgres::Error),
    /// No answer within the client's deadline.
    Timeout(Duration),
    Invalid(String),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

/// Whether an error means the connection is gone (or no longer trustworthy).
pub(super) fn connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // Class 08 (connection exception), 57P0x (shutdown, terminated by an administrator).
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        // Not a server error: I/O, protocol, TLS — start afresh.
        None => true,
    }
}

/// Awaits `future` for at most `limit`.
pub(super) async fn within<T, F>(limit: Duration, future: F) -> Result<T, Fail>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(Fail::Pg),
        Err(_) => Err(Fail::Timeout(limit)),
    }
}

/// Connects, sets up the session and checks (read-only) or migrates (read-write) the schema.
pub(super) async fn connect(settings: &Settings) -> Result<Live, Fail> {
    let (client, task) = within(settings.connect_deadline, open(settings)).await?;
    let mut live = Live {
        client,
        task,
        prepared: None,
        version: 0,
    };
    let limit = settings.client_deadline();
    // At least 1 ms: the builder sees to it (0 would mean no timeout to the server).
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis());
    let idle_timeout = format!("{}ms", limit.as_millis() * 2);
    let read_only = if settings.mode == Mode::ReadOnly {
        "on"
    } else {
        "off"
    };
    within(
        limit,
        live.client.execute(
            "SELECT set_config('statement_timeout', $1, false),
                    set_config('idle_in_transaction_session_timeout', $2, false),
                    set_config('default_transaction_read_only', $3, false)",
            &[&statement_timeout, &idle_timeout, &read_only],
        ),
    )
    .await?;
    live.version = match settings.mode {
        Mode::ReadOnly => check_tables(&live.client, settings, limit).await?,
        Mode::ReadWrite => migrate(&mut live.client, settings, limit).await?,
    };
    Ok(live)
}

/// Opens the connection with the TLS `sslmode` asks for and spawns its driver.
async fn open(settings: &Settings) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
    match &settings.tls {
        Tls::Off => open_with(&settings.config, NoTls).await,
        Tls::Rustls(tls) => match open_with(&settings.config, tls.clone()).await {
            // `prefer`: a server whose certificate does not verify is used unencrypted, as
            // libpq's `prefer` falls back to an unencrypted connection.
            Err(e) if settings.config.get_ssl_mode() == SslMode::Prefer && tls_failed(&e) => {
                let mut plain = settings.config.clone();
                plain.ssl_mode(SslMode::Disable);
                open_with(&plain, NoTls).await
            }
            other => other,
        },
    }
}

async fn open_with<T>(
    config: &Config,
    tls: T,
) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        // Its errors reach the client as a closed connection.
        let _ = connection.await;
    });
    Ok((client, task))
}

/// What a call does on the connection.
pub(super) enum Op<'a> {
    Write(&'a Batch<'a>),
    Heartbeat(&'a RecorderHeartbeat),
    Query(&'a str, &'a [&'a (dyn ToSql + Sync)]),
    /// Statements without parameters or rows, in the simple protocol (`BEGIN`, `COMMIT`, …).
    Execute(&'a str),
}

/// Runs `op` on `live`, waiting at most the client's deadline for each statement.
pub(super) async fn perform(
    live: &mut Live,
    settings: &Settings,
    op: Op<'_>,
) -> Result<Vec<Row>, Fail> {
    let limit = settings.client_deadline();
    match op {
        Op::Query(sql, params) => within(limit, live.client.query(sql, params)).await,
        Op::Execute(sql) => {
            within(limit, live.client.batch_execute(sql)).await?;
            Ok(Vec::new())
        }
        Op::Heartbeat(beat) => {
            write_heartbeat(live, settings, beat, limit).await?;
            Ok(Vec::new())
        }
        Op::Write(batch) => {
            write_batch(live, settings, batch, limit).await?;
            Ok(Vec::new())
        }
    }
}
