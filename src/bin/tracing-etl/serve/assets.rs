//! The stylesheet and script, compiled into the binary: the pages load nothing from elsewhere.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Where the stylesheet is served.
pub(crate) const STYLE_PATH: &str = "/assets/style.css";
/// Where the script that reloads live pages is served.
pub(crate) const LIVE_PATH: &str = "/assets/live.js";

/// The stylesheet (inlined in a `tracing-etl report` file).
pub(crate) const STYLE: &str = include_str!("assets/style.css");
const LIVE: &str = include_str!("assets/live.js");

pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

pub(crate) async fn live() -> Response {
    asset(LIVE, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
