//! The page's endpoints. Every one is a GET that only reads; an error is a 4xx (or 5xx) with
//! `{"error": "one line"}`.
//!
//! | path | answers |
//! |---|---|
//! | `/` and `/assets/NAME` | the page and its files ([`super::assets`]) |
//! | `/api/runs` | every run (one [`RunSummary`] each) and report under the folders |
//! | `/api/run?id=` | a run's summary, its `config.json` and the iterations with samples |
//! | `/api/metrics?id=&from=` | its evaluations from the `from`-th on, and how many there are |
//! | `/api/samples?id=&iteration=` | the fixed-noise samples written at that iteration |
//! | `/api/generate?id=&n=&seed=&temperature=&truncation=&checkpoint=` | `textgan generate`'s lines |
//! | `/api/interpolate?id=&from=&to=&steps=&path=&truncation=&checkpoint=` | `textgan interpolate`'s walk |
//! | `/api/report?id=` and `/api/report/chart?id=&name=` | a report's text, and its charts |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::api_error::ApiError;
use super::assets;
use super::worker::Worker;
use crate::catalog::records::{read_metrics, read_samples, sample_iterations};
use crate::catalog::reports::{read_chart, read_report};
use crate::catalog::summary::{summarise, RunSummary};
use crate::catalog::{check_run_files, Catalog};
use crate::data::batches::check_truncation;
use crate::sample::generate::Sampler;
use crate::sample::interpolate::{interpolate, NoisePoint, Walk};
use crate::train::checkpoint::Which;

/// Most samples one request generates (the command has no such bound).
pub const MAX_SAMPLES: usize = 1000;
/// Most steps of one walk.
pub const MAX_STEPS: usize = 200;
/// Longest request line accepted (path and query).
pub const MAX_URI: usize = 4096;
/// Largest request body accepted (every endpoint is a GET and needs none).
pub const MAX_BODY: usize = 16 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    catalog: Arc<Catalog>,
    worker: Worker,
    /// The listening address: when it is a loopback one, only requests that name a loopback
    /// host are answered (a web page elsewhere cannot reach the runs by DNS rebinding).
    local: SocketAddr,
}

impl AppState {
    pub fn new(catalog: Catalog, local: SocketAddr) -> Self {
        AppState {
            catalog: Arc::new(catalog),
            worker: Worker::default(),
            local,
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Catalog work reads files: off the async threads.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ApiError::internal(format!("reading failed: {e}")))?
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/runs", get(runs))
        .route("/api/run", get(run))
        .route("/api/metrics", get(metrics))
        .route("/api/samples", get(samples))
        .route("/api/generate", get(generate))
        .route("/api/interpolate", get(walk))
        .route("/api/report", get(report))
        .route("/api/report/chart", get(chart))
        .fallback(|| async { ApiError::not_found("no such page") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET: the page only reads",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Refuse what no page of ours sends: an overlong request, a body, a host name that is not
/// this machine's while listening on loopback. And mark every answer `nosniff`.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri_len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if uri_len > MAX_URI {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request is longer than {MAX_URI} bytes"),
        )
        .into_response();
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
        .into_response();
    }
    if state.local.ip().is_loopback() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "host {host:?} is not this machine: open the page at http://{}/",
                    state.local
                ),
            )
            .into_response();
        }
    }
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `localhost`, `127.0.0.1` (any 127.x), `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn index() -> Response {
    assets::page()
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::file(&name) {
        Some(r) => r,
        None => ApiError::not_found(format!("no asset {name:?}")).into_response(),
    }
}

#[derive(Serialize)]
struct Listing {
    roots: Vec<String>,
    runs: Vec<RunSummary>,
    reports: Vec<ReportItem>,
    /// Set when a folder held too many subfolders to look at all of them.
    truncated: bool,
}

#[derive(Serialize)]
struct ReportItem {
    id: String,
    path: String,
}

async fn runs(State(s): State<AppState>) -> ApiResult<Json<Listing>> {
    blocking(move || {
        let scan = s.catalog.scan();
        Ok(Json(Listing {
            roots: s
                .catalog
                .roots()
                .iter()
                .map(|r| r.display().to_string())
                .collect(),
            runs: scan.runs.iter().map(summarise).collect(),
            reports: scan
                .reports
                .iter()
                .map(|f| ReportItem {
                    id: f.id.clone(),
                    path: f.shown.display().to_string(),
                })
                .collect(),
            truncated: scan.truncated,
        }))
    })
    .await
}

#[derive(Deserialize)]
struct IdQuery {
    id: String,
}

#[derive(Serialize)]
struct RunDetail {
    summary: RunSummary,
    /// `config.json` as written (null when it cannot be read: see the summary's problem).
    config: serde_json::Value,
    /// The iterations with a fixed-noise samples file.
    samples: Vec<u64>,
}

async fn run(
    State(s): State<AppState>,
    q: Result<Query<IdQuery>, QueryRejection>,
) -> ApiResult<Json<RunDetail>> {
    let Query(q) = q?;
    blocking(move || {
        let found = s.catalog.run(&q.id)?;
        let config =
            crate::catalog::files::read_bounded(&found.path.join(crate::run_dir::CONFIG), 1 << 20)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null);
        Ok(Json(RunDetail {
            summary: summarise(&found),
            config,
            samples: sample_iterations(&found.path),
        }))
    })
    .await
}

#[derive(Deserialize)]
struct MetricsQuery {
    id: String,
    #[serde(default)]
    from: usize,
}

async fn metrics(
    State(s): State<AppState>,
    q: Result<Query<MetricsQuery>, QueryRejection>,
) -> ApiResult<Json<crate::catalog::records::Metrics>> {
    let Query(q) = q?;
    blocking(move || {
        let dir = s.catalog.run(&q.id)?.path;
        Ok(Json(read_metrics(&dir, q.from)))
    })
    .await
}

#[derive(Deserialize)]
struct SamplesQuery {
    id: String,
    iteration: u64,
}

#[derive(Serialize)]
struct Samples {
    iteration: u64,
    lines: Vec<String>,
}

async fn samples(
    State(s): State<AppState>,
    q: Result<Query<SamplesQuery>, QueryRejection>,
) -> ApiResult<Json<Samples>> {
    let Query(q) = q?;
    blocking(move || {
        let dir = s.catalog.run(&q.id)?.path;
        check_run_files(&dir).map_err(|p| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, p))?;
        match read_samples(&dir, q.iteration) {
            Ok(Some(lines)) => Ok(Json(Samples {
                iteration: q.iteration,
                lines,
            })),
            Ok(None) => Err(ApiError::not_found(format!(
                "run {} has no samples at iteration {}",
                q.id, q.iteration
            ))),
            Err(problem) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, problem)),
        }
    })
    .await
}

/// `value` if it is 1 to `max`, else "NAME VALUE: WHAT 1 to MAX".
fn bounded(name: &str, value: usize, what: &str, max: usize) -> ApiResult<usize> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad(format!("{name} {value}: {what} 1 to {max}")))
    }
}

/// `best` or `last`, as `--checkpoint` takes it.
fn which(name: Option<&str>) -> ApiResult<Which> {
    let name = name.unwrap_or("best");
    Which::ALL
        .into_iter()
        .find(|w| w.name() == name)
        .ok_or_else(|| ApiError::bad(format!("checkpoint {name:?}: expected best or last")))
}

/// The run's generator, loaded without writing anything, reading its noise at `truncation`
/// (`None`: the run's own); a run that cannot be loaded is a 422 naming the file.
fn sampler(
    catalog: &Catalog,
    id: &str,
    checkpoint: Option<&str>,
    truncation: Option<f64>,
) -> ApiResult<Sampler> {
    // A bad value is the request's fault whatever the run: refused before any file is read.
    if let Some(psi) = truncation {
        check_truncation(psi).map_err(|e| ApiError::bad_setting("truncation", e))?;
    }
    let run = catalog.run(id)?;
    let which = which(checkpoint)?;
    let unusable = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    check_run_files(&run.path).map_err(unusable)?;
    // By the path as given (what the page and the command show), checked just above.
    Sampler::load_read_only(&run.shown, which, &Device::Cpu)
        .and_then(|s| s.with_truncation(truncation))
        .map_err(|e| unusable(e.to_string()))
}

#[derive(Deserialize)]
struct GenerateQuery {
    id: String,
    n: Option<usize>,
    seed: Option<u64>,
    temperature: Option<f64>,
    /// The noise's ψ; absent: the run's own (`config.json`'s `truncation`).
    truncation: Option<f64>,
    checkpoint: Option<String>,
}

#[derive(Serialize)]
struct Generated {
    /// Which generator spoke, in words.
    what: String,
    seed: u64,
    temperature: f64,
    /// The ψ the noise was read at (the run's own unless the request named one).
    truncation: f64,
    lines: Vec<String>,
}

async fn generate(
    State(s): State<AppState>,
    q: Result<Query<GenerateQuery>, QueryRejection>,
) -> ApiResult<Json<Generated>> {
    let Query(q) = q?;
    let n = bounded(
        "n",
        q.n.unwrap_or(10),
        "the number of samples must be",
        MAX_SAMPLES,
    )?;
    let seed = q.seed.unwrap_or(0);
    let temperature = q.temperature.unwrap_or(0.0);
    let catalog = s.catalog.clone();
    s.worker
        .run(move || {
            let sampler = sampler(&catalog, &q.id, q.checkpoint.as_deref(), q.truncation)?
                .with_temperature(temperature)
                .map_err(|e| ApiError::bad_setting("temperature", e))?;
            let mut lines = Vec::with_capacity(n);
            sampler
                .generate(n, seed, false, |line| {
                    lines.push(line);
                    true
                })
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(Json(Generated {
                what: sampler.what,
                seed,
                temperature,
                truncation: sampler.truncation,
                lines,
            }))
        })
        .await
}

#[derive(Deserialize)]
struct WalkQuery {
    id: String,
    from: String,
    to: String,
    steps: Option<usize>,
    path: Option<crate::sample::interpolate::Path>,
    /// As [`GenerateQuery`]'s: a walk's ends are `generate`'s samples at the same ψ.
    truncation: Option<f64>,
    checkpoint: Option<String>,
}

async fn walk(
    State(s): State<AppState>,
    q: Result<Query<WalkQuery>, QueryRejection>,
) -> ApiResult<Json<Walk>> {
    let Query(q) = q?;
    let steps = bounded("steps", q.steps.unwrap_or(8), "a walk takes", MAX_STEPS)?;
    let end = |name: &str, s: &str| {
        s.parse::<NoisePoint>().map_err(|e| {
            ApiError::bad(format!(
                "{name} {}",
                e.to_string().trim_start_matches("invalid setting: ")
            ))
        })
    };
    let ends = (end("from", &q.from)?, end("to", &q.to)?);
    let catalog = s.catalog.clone();
    s.worker
        .run(move || {
            let sampler = sampler(&catalog, &q.id, q.checkpoint.as_deref(), q.truncation)?;
            interpolate(&sampler, ends, steps, q.path.unwrap_or_default())
                .map(Json)
                .map_err(|e| ApiError::internal(e.to_string()))
        })
        .await
}

async fn report(
    State(s): State<AppState>,
    q: Result<Query<IdQuery>, QueryRejection>,
) -> ApiResult<Json<crate::catalog::reports::Report>> {
    let Query(q) = q?;
    blocking(move || {
        let found = s.catalog.report(&q.id)?;
        let shown = found.shown.display().to_string();
        read_report(&q.id, &shown, &found.path)
            .map(Json)
            .map_err(|p| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, p))
    })
    .await
}

#[derive(Deserialize)]
struct ChartQuery {
    id: String,
    name: String,
}

async fn chart(
    State(s): State<AppState>,
    q: Result<Query<ChartQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    blocking(move || {
        let dir = s.catalog.report(&q.id)?.path;
        match read_chart(&dir, &q.name).map_err(ApiError::bad)? {
            Some(svg) => Ok((
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    // A chart is a picture: nothing in it may run or load.
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; style-src 'unsafe-inline'",
                    ),
                ],
                svg,
            )
                .into_response()),
            None => Err(ApiError::not_found(format!(
                "report {} has no chart {:?}",
                q.id, q.name
            ))),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_host_names_pass() {
        for ok in [
            "localhost",
            "localhost:8484",
            "127.0.0.1:1",
            "127.1.2.3",
            "[::1]:80",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8484",
            "10.0.0.1:80",
            "localhost.evil.example",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
