//! An endpoint's failure as the page receives it: a status and `{"error": "one line"}`.

use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::catalog::Refused;

/// An error as the page receives it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        // One line, whatever the cause said.
        let message: String = message.into();
        ApiError {
            status,
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// A setting the library refused, as a 400: the library's message names the command's
    /// flag (`--name`), the page sent the query parameter `name`.
    pub fn bad_setting(name: &str, refused: impl std::fmt::Display) -> Self {
        Self::bad(refused.to_string().replace(&format!("--{name}"), name))
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        let status = match r {
            Refused::BadId(_) => StatusCode::BAD_REQUEST,
            Refused::Missing { .. } => StatusCode::NOT_FOUND,
            Refused::Link(_) => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, r.to_string())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (
            self.status,
            Json(Body {
                error: self.message,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line() {
        let e = ApiError::bad("first\nsecond\t third");
        assert_eq!(e.message, "first second third");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_refused_setting_names_the_query_parameter_not_the_flag() {
        let e = ApiError::bad_setting("truncation", "--truncation must be at most 1, got 2");
        assert_eq!(e.message, "truncation must be at most 1, got 2");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
