//! The S3-compatible server of the Delta Lake store's S3 tests (feature `delta-s3`):
//! `TRACING_ETL_TEST_S3`, e.g. `http://127.0.0.1:5000` for `moto_server -p 5000`, which CI
//! starts (`.ci/s3-server`); a bucket of its own per test.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

/// The endpoint: `TRACING_ETL_TEST_S3`. Without it the tests that need a server are skipped,
/// except in CI (`CI` set), where a missing endpoint is a failure.
pub fn endpoint() -> Option<String> {
    match std::env::var("TRACING_ETL_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ if std::env::var_os("CI").is_some() => {
            panic!("TRACING_ETL_TEST_S3 is not set: CI must start the S3 server")
        }
        _ => {
            eprintln!(
                "skipped: set TRACING_ETL_TEST_S3 to an S3-compatible endpoint on this machine \
                 (`eval \"$(bash .ci/s3-server)\"` starts one)"
            );
            None
        }
    }
}

/// The settings of `endpoint` as `AWS_*` names: static test credentials, plain HTTP.
pub fn settings(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ]
}

/// The same settings as storage options.
pub fn options(endpoint: &str) -> HashMap<String, String> {
    settings(endpoint)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Creates a bucket of its own for a test (an unsigned `PUT /BUCKET`, which a local test server
/// takes) and returns its name.
pub fn bucket(endpoint: &str, test: &str) -> String {
    let name = format!("tracing-etl-{test}-{}", uuid::Uuid::now_v7().simple());
    let host = endpoint
        .strip_prefix("http://")
        .expect("a plain http:// endpoint");
    let mut stream = TcpStream::connect(host).expect("connect to the S3 server");
    write!(
        stream,
        "PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "create bucket {name}: {response}"
    );
    name
}
