//! The page's files, compiled into the binary: `textgan serve` needs nothing beside it and
//! loads nothing from the network. uPlot (MIT, its licence in `page/vendor/`) draws the
//! charts.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// `(name, content type, contents)` of every file under `/assets/`.
const FILES: [(&str, &str, &str); 5] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("page/style.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("page/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("page/vendor/uPlot.min.css"),
    ),
    (
        "uPlot-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_str!("page/vendor/uPlot-LICENSE.txt"),
    ),
];

/// Scripts and styles from this server only, no inline script, nothing from elsewhere.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// The page itself.
pub fn page() -> Response {
    let mut res = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("page/index.html"),
    )
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

/// The file `name` under `/assets/`, if there is one.
pub fn file(name: &str) -> Option<Response> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, body)| ([(header::CONTENT_TYPE, *kind)], *body).into_response())
}
