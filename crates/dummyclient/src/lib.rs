//! # dummyclient
//!
//! The lecture's DummyClient, and a load generator that verifies every echoed byte, for
//! servers built on servercore (or any TCP echo server).
//!
//! ```text
//!   main.rs     CLI: no flags = lecture mode, --clients N / --load = load mode
//!   lecture     one blocking socket, "Hello World" every second (the lecture's client)
//!   load        LoadHandler on servercore event loops: closed loop (--inflight) or open
//!               loop (--rate), phases Connecting -> Sending -> Draining
//!   connect     blocking connects with retries and backoff, one deadline
//!   message     the message format (header + pattern) and the per-client stream verifier
//!   stats       Stats per loop (counts + latency histogram), merged into a Report
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

pub mod connect;
pub mod lecture;
pub mod load;
pub mod message;
pub mod stats;
