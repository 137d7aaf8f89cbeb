//! What the baseline servers share: their `--bind`/`--port`/`--threads` arguments, the runtime
//! a `#[tokio::main]` user gets (with the worker count from `--threads`) and the listening
//! socket. Each server in `src/bin/` is otherwise
//! written as a typical tokio user would write it.

use anyhow::Context as _;
use tokio::net::TcpListener;

/// Where a baseline listens and with how many threads: the arguments every one of them takes
/// (the bench scripts add `--bind`, `--port` and `--threads` to any server).
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 7777)]
    pub port: u16,
    /// Worker threads (default: number of CPUs). mio_echo runs one and ignores it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Equivalent to `#[tokio::main]` (multi-thread flavor), except that the worker count comes
/// from `--threads` (default: number of CPUs).
///
/// # Errors
/// If the runtime cannot start (threads or the I/O driver).
pub fn runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder.build()
}

/// Binds `bind:port` with tokio's default backlog (1024, what a typical user gets; bursts of
/// 1,000 connects on loopback succeed) and says where `name` listens on stderr.
///
/// # Errors
/// Binding errors, naming the address.
pub async fn listen(name: &str, bind: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr = format!("{bind}:{port}");
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    eprintln!("{name} listening on {}", listener.local_addr()?);
    Ok(listener)
}
