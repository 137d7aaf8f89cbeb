//! # dummyclient
//!
//! The lecture's DummyClient, and a load generator that verifies every byte it gets back, for
//! servers built on servercore (or any TCP echo server, or any server of docs/protocol.md).
//!
//! ```text
//!   main.rs     CLI: no flags = lecture mode, --clients N / --load = load mode,
//!               --interactive = chat by hand
//!   lecture     one blocking socket, "Hello World" every second (the lecture's client)
//!   interactive --interactive: chat by hand with a packet server (stdin lines -> CHAT)
//!   load        the run on the main thread: connect, barrier, send, drain, report;
//!               scenarios echo and chat, closed loop (--inflight) or open loop (--rate)
//!   handler     LoadHandler on servercore event loops: phases Connecting -> Sending ->
//!               Draining; sends, paces, hands what arrives to the verifiers (--resume:
//!               through the client's seat first; ACKs and --chaos drops on its tick:
//!               handler_seat.rs)
//!   client      one client as a loop sees it: its verifier, schedule, seat, and what a
//!               packet from the server was for it
//!   wire        --protocol raw (messages back to back) or packet (docs/protocol.md)
//!   websocket   --websocket: the upgrade handshake, masked frames out, frames -> packets in
//!   message     echo: the message format (header + pattern), the per-client stream verifier
//!   chat        chat: the body format, rooms, the per-member verifier (per-sender order)
//!   pattern     the pattern bytes both formats carry
//!   connect     blocking connects with retries and backoff, one deadline
//!   gate        the connect phase's handshakes: TLS (a blocking probe, then in the loops)
//!               and the WebSocket upgrade
//!   tls         --tls: rustls clients verifying the server against --tls-ca/--tls-name
//!   login       --auth-secret: a connect token per client (player dummy-N), its HELLO first
//!   resume      --resume: one client's held seat, no I/O: both stream positions, the packets
//!               it sent and the server has not acknowledged, the ticket, the ACK policy
//!   reconnect   --resume: dropped clients wait in a pool by server; a connect thread opens
//!               their new connections and Service::adopt hands them back to a loop
//!   chaos       --chaos RATE: which client each loop drops when (seeded by --seed)
//!   resume_stats  drops, resumes, resume latency, replayed and resent, seats lost by reason
//!   spread      --addr a,b,c: which client goes to which server (rooms split over them)
//!   stats       Verdict per message; Stats per loop (counts + latency), merged into a Report
//!   timeline    per-second buckets of each loop's Stats (count + latency), and the points
//!               drawn by --plot and kept in --json-out's `timeline`
//!   plot        --plot: the timeline as an SVG chart (throughput, p50/p99 per second)
//!   progress    the live progress bar on stderr, fed by load::run_observed
//!   compare     --compare: two --json reports side by side with ratios
//! ```
//!
//! # Examples
//! A short closed-loop run against an in-process servercore echo server:
//! ```
//! use std::sync::atomic::AtomicBool;
//! use std::time::Duration;
//! use dummyclient::load::{self, LoadConfig, Pacing};
//! use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
//!         let _ = ctx.send_copy(id, data);
//!         data.len()
//!     }
//! }
//!
//! let server = Service::bind("127.0.0.1:0".parse().unwrap(), ServiceConfig { threads: 1, ..Default::default() }, |_| Echo)?;
//! let config = LoadConfig {
//!     pacing: Pacing::Closed { inflight: 2 },
//!     duration: Duration::from_millis(200),
//!     threads: 1,
//!     ..LoadConfig::new(server.local_addr().unwrap().to_string(), 4)
//! };
//! let report = load::run(&config, &AtomicBool::new(false))?;
//! assert!(report.passed(), "{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod arena;
pub mod chaos;
pub mod chat;
mod client;
pub mod compare;
pub mod connect;
pub mod gate;
pub mod handler;
pub mod interactive;
pub mod lecture;
pub mod load;
pub mod login;
pub mod message;
pub mod pattern;
pub mod plot;
pub mod progress;
pub mod reconnect;
pub mod resume;
pub mod resume_stats;
pub mod spread;
pub mod stats;
pub mod timeline;
pub mod tls;
pub mod websocket;
pub mod wire;
