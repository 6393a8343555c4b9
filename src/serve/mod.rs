//! `textgan serve`: a local, read-only web page over the runs and reports under some folders
//! ([`crate::catalog`]): their curves overlaid, the fixed-noise samples sharpening, and a
//! trained generator to play with (generate, walk between two samples).
//!
//! axum on a small tokio runtime; the page's files, uPlot included, are compiled in
//! ([`assets`]), so it works offline. Nothing is written anywhere: run directories are only
//! read (no crash recovery either, [`crate::sample::generate::Sampler::load_read_only`]).
//! Generating runs on a [`worker`] of its own, one request at a time with a short queue, so
//! the rest of the page stays responsive. [`routes`] lists the endpoints.

pub mod api_error;
pub mod assets;
pub mod routes;
pub mod worker;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// The default port (`--port`); 0 asks the system for a free one.
pub const DEFAULT_PORT: u16 = 8484;

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The folders whose runs and reports are shown.
    pub dirs: Vec<PathBuf>,
    pub bind: IpAddr,
    pub port: u16,
}

/// Serve until `stop` resolves (Ctrl-C for the command line). `ready` is called once the
/// socket listens, with its address (the port the system chose for port 0).
pub fn serve(
    opts: &ServeOptions,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let catalog = Catalog::new(&opts.dirs)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the web server's runtime: {e}")))?;
    runtime.block_on(async {
        let addr = SocketAddr::new(opts.bind, opts.port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another program uses that port: choose one with --port, or --port 0 for any free port)"
            } else {
                ""
            };
            Error::Runtime(format!("cannot listen on {addr}: {e}{hint}"))
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::Runtime(format!("cannot read the listening address: {e}")))?;
        let app = routes::router(routes::AppState::new(catalog, local));
        ready(local);
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
            .map_err(|e| Error::Runtime(format!("the web server stopped: {e}")))
    })
}
