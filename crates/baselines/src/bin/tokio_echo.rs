//! Baseline: a plain tokio echo server, written the way a typical tokio user
//! would write one. It is the reference point for `bench/run.sh`, so it
//! deliberately has no tricks in either direction: one task per connection,
//! a 4 KiB buffer, `read` then `write_all` (`baselines::echo`, shared with `tokio_tls_echo`).

use clap::Parser;
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "Plain tokio echo server (benchmark baseline)")]
struct Args {
    #[command(flatten)]
    endpoint: baselines::Endpoint,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    baselines::runtime(args.endpoint.threads)?.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = baselines::listen("tokio_echo", &args.endpoint.bind, args.endpoint.port).await?;
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
        tokio::spawn(async move {
            if let Err(e) = echo(stream).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn echo(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    baselines::echo(stream).await
}
