//! Baseline: `tokio_echo` behind tokio-rustls, the way a typical tokio user adds TLS to it: one
//! task per connection that completes the handshake (`TlsAcceptor::accept`), then the same
//! echo (a 4 KiB buffer, `read` then `write_all`). rustls is configured as servercore's
//! `TlsConfig` (`baselines::tls_acceptor`): ring, TLS 1.3 and 1.2, stateless tickets. It is the
//! reference of `bench/tls.sh`.

use std::path::PathBuf;

use clap::Parser;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Parser)]
#[command(about = "tokio echo server over TLS (tokio-rustls; benchmark baseline)")]
struct Args {
    #[command(flatten)]
    endpoint: baselines::Endpoint,
    /// Certificate chain, PEM (the server's certificate first).
    #[arg(long)]
    tls_cert: PathBuf,
    /// Private key of --tls-cert, PEM.
    #[arg(long)]
    tls_key: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let acceptor = baselines::tls_acceptor(&args.tls_cert, &args.tls_key)?;
    baselines::runtime(args.endpoint.threads)?.block_on(serve(args, acceptor))
}

async fn serve(args: Args, acceptor: TlsAcceptor) -> anyhow::Result<()> {
    let listener =
        baselines::listen("tokio_tls_echo", &args.endpoint.bind, args.endpoint.port).await?;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: report and keep serving.
                eprintln!("accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = echo(&acceptor, stream).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn echo(acceptor: &TlsAcceptor, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    baselines::echo(acceptor.accept(stream).await?).await
}
