//! Why a request got no answer: a bad query (400), nothing by that name (404), a store that
//! cannot be read (500). Pages show it as HTML, the API as `{"error": "…"}`.

use axum::http::StatusCode;

use crate::error::CliError;

/// An error with the HTTP status it answers with.
#[derive(Debug)]
pub(crate) struct WebError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl WebError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        WebError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        WebError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

/// Errors of the shared reading code are the store's: the server's fault, not the request's.
impl From<CliError> for WebError {
    fn from(e: CliError) -> Self {
        WebError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

impl From<tracing_etl::StoreError> for WebError {
    fn from(e: tracing_etl::StoreError) -> Self {
        CliError::from(e).into()
    }
}
