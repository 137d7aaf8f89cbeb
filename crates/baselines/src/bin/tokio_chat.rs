//! Baseline: a chat-room server written the way tokio's own `chat.rs` example
//! does it (one task per client, `Arc<Mutex<Shared>>` holding an unbounded
//! `mpsc` sender per member, and each client task `select!`ing between its
//! receiver and its socket), but speaking servercore's binary packet protocol
//! instead of lines.
//!
//! Wire format: every packet is a 4-byte little-endian header
//! `{ size: u16 (whole packet, header included), id: u16 }` followed by
//! `size - 4` body bytes. As in the gameserver, packets with `size < 4` or
//! `size > 4096`, an ENTER_ROOM body that is not 4 bytes, CHAT outside a room
//! and unknown ids close the connection, and a member whose inbox would hold
//! more than `--send-queue-limit` bytes (default 4 MiB) is dropped from its
//! room and disconnected at once: the room never waits for it, and memory
//! stays bounded (tokio's example uses an unbounded channel, which would not).
//! There are no session caps, so `SERVER_FULL` is never sent.
//!
//! With `--tls-cert`/`--tls-key` each client task first completes a TLS handshake
//! (tokio-rustls, configured as servercore's: `baselines::tls_acceptor`) and then runs the same
//! loop over the TLS stream's halves (`tokio::io::split`).
//!
//! The packet ids and rules below must match the gameserver's
//! (`docs/protocol.md`, `crates/gameserver/src/protocol.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex, Notify};
use tokio_rustls::TlsAcceptor;

/// Client -> server: sent straight back unchanged.
const PKT_ECHO: u16 = 1;
/// Client -> server: body = u32 LE room id. Leaves the current room first,
/// answered with ROOM_JOINED.
const PKT_ENTER_ROOM: u16 = 2;
/// Client -> server: empty body (ignored, as the gameserver does). No answer.
const PKT_LEAVE_ROOM: u16 = 3;
/// Client -> server: arbitrary body, broadcast to the sender's room.
const PKT_CHAT: u16 = 4;
/// Server -> client: body = the CHAT body unchanged; also sent to the sender.
const PKT_CHAT_BROADCAST: u16 = 5;
/// Server -> client: body = u32 LE room id, u32 LE member count after the join.
const PKT_ROOM_JOINED: u16 = 6;

const HEADER_LEN: usize = 4;
const MAX_PACKET: usize = 4096;

/// Shorthand for the channel half that delivers whole packets to a client.
type Tx = mpsc::UnboundedSender<Arc<[u8]>>;
type Rx = mpsc::UnboundedReceiver<Arc<[u8]>>;

#[derive(Debug, Parser)]
#[command(about = "tokio chat-room server (benchmark baseline)")]
struct Args {
    #[command(flatten)]
    endpoint: baselines::Endpoint,
    /// Disconnect a member whose inbox would exceed this many bytes (slow consumer).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    send_queue_limit: usize,
    #[command(flatten)]
    tls: baselines::TlsArgs,
}

/// A client's inbox as its rooms see it: the channel to its task, the bytes
/// waiting in that channel, and the signal that it was dropped as a slow
/// consumer.
#[derive(Debug, Clone)]
struct Inbox {
    tx: Tx,
    queued: Arc<AtomicUsize>,
    kicked: Arc<Notify>,
}

impl Inbox {
    /// Queues `packet` unless the inbox would then hold more than `limit`
    /// bytes; in that case signals the client's task to disconnect and
    /// returns false.
    fn push(&self, packet: &Arc<[u8]>, limit: usize) -> bool {
        let queued = self.queued.fetch_add(packet.len(), Ordering::Relaxed) + packet.len();
        if queued > limit {
            self.kicked.notify_one();
            return false;
        }
        // A member whose task already ended is removed by that task.
        let _ = self.tx.send(Arc::clone(packet));
        true
    }
}

/// State shared by every client task: room id -> (session id -> inbox).
#[derive(Debug)]
struct Shared {
    rooms: HashMap<u32, HashMap<u64, Inbox>>,
    send_queue_limit: usize,
}

impl Shared {
    /// Adds the session to `room`; returns the member count after the join.
    fn join(&mut self, room: u32, session: u64, inbox: Inbox) -> usize {
        let members = self.rooms.entry(room).or_default();
        members.insert(session, inbox);
        members.len()
    }

    fn leave(&mut self, room: u32, session: u64) {
        if let Some(members) = self.rooms.get_mut(&room) {
            members.remove(&session);
            if members.is_empty() {
                self.rooms.remove(&room);
            }
        }
    }

    /// Sends `packet` to every member of `room`, the sender included; a slow
    /// consumer is dropped from the room (and told to disconnect).
    fn broadcast(&mut self, room: u32, packet: &Arc<[u8]>) {
        let limit = self.send_queue_limit;
        if let Some(members) = self.rooms.get_mut(&room) {
            members.retain(|_, inbox| inbox.push(packet, limit));
            if members.is_empty() {
                self.rooms.remove(&room);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tls = args.tls.acceptor()?;
    baselines::runtime(args.endpoint.threads)?.block_on(serve(args, tls))
}

async fn serve(args: Args, tls: Option<TlsAcceptor>) -> anyhow::Result<()> {
    let listener = baselines::listen("tokio_chat", &args.endpoint.bind, args.endpoint.port).await?;
    let state = Arc::new(Mutex::new(Shared {
        rooms: HashMap::new(),
        send_queue_limit: args.send_queue_limit,
    }));
    let next_session = AtomicU64::new(1);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("accept error: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let session = next_session.fetch_add(1, Ordering::Relaxed);
        let state = Arc::clone(&state);
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = process(state, stream, session, tls).await {
                eprintln!("{peer}: {e:#}");
            }
        });
    }
}

/// One client: its session id, the room it is in, and its inbox.
struct Client {
    session: u64,
    room: Option<u32>,
    inbox: Inbox,
}

async fn process(
    state: Arc<Mutex<Shared>>,
    stream: TcpStream,
    session: u64,
    tls: Option<TlsAcceptor>,
) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut client = Client {
        session,
        room: None,
        inbox: Inbox {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            kicked: Arc::new(Notify::new()),
        },
    };
    let result = match tls {
        None => {
            let (reader, writer) = stream.into_split();
            run(&state, reader, writer, &mut client, rx).await
        }
        Some(acceptor) => {
            let (reader, writer) = tokio::io::split(acceptor.accept(stream).await?);
            run(&state, reader, writer, &mut client, rx).await
        }
    };
    if let Some(room) = client.room.take() {
        state.lock().await.leave(room, session);
    }
    result
}

/// The client's loop over its stream's halves (a `TcpStream`'s, or a TLS stream's). Every
/// `write_all` is followed by a `flush`: free on a TCP half, and over TLS it sends what rustls
/// still holds when the socket took only part of the records.
async fn run(
    state: &Mutex<Shared>,
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    client: &mut Client,
    mut rx: Rx,
) -> anyhow::Result<()> {
    // Bytes received but not yet parsed. `read_buf` (unlike `read_exact`) is
    // cancellation safe, which `select!` requires: a partially received
    // packet stays here when the other branch wins.
    let mut inbuf: Vec<u8> = Vec::with_capacity(MAX_PACKET);
    // Replies produced by one read are written back with one write.
    let mut out: Vec<u8> = Vec::with_capacity(MAX_PACKET);
    let kicked = Arc::clone(&client.inbox.kicked);
    let queued = Arc::clone(&client.inbox.queued);
    loop {
        tokio::select! {
            () = kicked.notified() => bail!("slow consumer: inbox over the send queue limit"),
            Some(packet) = rx.recv() => {
                queued.fetch_sub(packet.len(), Ordering::Relaxed);
                // A peer that stops reading must not keep its task (and socket) alive.
                tokio::select! {
                    biased;
                    written = write(&mut writer, &packet) => written?,
                    () = kicked.notified() => bail!("slow consumer: inbox over the send queue limit"),
                }
            }
            n = reader.read_buf(&mut inbuf) => {
                if n? == 0 {
                    return Ok(());
                }
                let consumed = handle_packets(state, client, &inbuf, &mut out).await?;
                inbuf.drain(..consumed);
                if !out.is_empty() {
                    write(&mut writer, &out).await?;
                    out.clear();
                }
            }
        }
    }
}

async fn write(writer: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> std::io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

/// Handles every complete packet at the front of `buf`; returns how many
/// bytes were consumed. Replies to the sender (ECHO, ROOM_JOINED) are
/// appended to `out`.
async fn handle_packets(
    state: &Mutex<Shared>,
    client: &mut Client,
    buf: &[u8],
    out: &mut Vec<u8>,
) -> anyhow::Result<usize> {
    let mut pos = 0;
    while buf.len() - pos >= HEADER_LEN {
        let size = usize::from(u16::from_le_bytes([buf[pos], buf[pos + 1]]));
        let id = u16::from_le_bytes([buf[pos + 2], buf[pos + 3]]);
        if !(HEADER_LEN..=MAX_PACKET).contains(&size) {
            bail!("bad packet size {size}");
        }
        if buf.len() - pos < size {
            break;
        }
        let packet = &buf[pos..pos + size];
        let body = &packet[HEADER_LEN..];
        match id {
            PKT_ECHO => out.extend_from_slice(packet),
            PKT_ENTER_ROOM => {
                let room =
                    u32::from_le_bytes(body.try_into().context("ENTER_ROOM body must be 4 bytes")?);
                let members = {
                    let mut shared = state.lock().await;
                    if let Some(old) = client.room.replace(room) {
                        shared.leave(old, client.session);
                    }
                    shared.join(room, client.session, client.inbox.clone())
                };
                let members = u32::try_from(members).unwrap_or(u32::MAX);
                out.extend_from_slice(&12u16.to_le_bytes());
                out.extend_from_slice(&PKT_ROOM_JOINED.to_le_bytes());
                out.extend_from_slice(&room.to_le_bytes());
                out.extend_from_slice(&members.to_le_bytes());
            }
            PKT_LEAVE_ROOM => {
                if let Some(old) = client.room.take() {
                    state.lock().await.leave(old, client.session);
                }
            }
            PKT_CHAT => {
                let Some(room) = client.room else {
                    bail!("CHAT outside a room");
                };
                let mut msg = packet.to_vec();
                msg[2..4].copy_from_slice(&PKT_CHAT_BROADCAST.to_le_bytes());
                let msg: Arc<[u8]> = msg.into();
                state.lock().await.broadcast(room, &msg);
            }
            other => bail!("unknown packet id {other}"),
        }
        pos += size;
    }
    Ok(pos)
}
