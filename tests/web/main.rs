//! `tracing-etl serve`: the real binary serving run histories recorded through the real layer
//! (SQLite, JSON Lines, PostgreSQL), asked over HTTP: every page and API route, hostile stored text, the
//! bearer token and the security headers.

#[allow(dead_code)]
#[path = "../cli_support/mod.rs"]
mod cli_support;

#[cfg(feature = "postgres")]
#[allow(dead_code)]
#[path = "../pg_support/mod.rs"]
mod pg_support;

mod big_run;
mod browser;
mod histories;
mod lifecycle;
mod report;
mod routes;
mod security;
mod server;
