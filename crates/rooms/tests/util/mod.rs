//! A line-protocol game for the rooms tests: `J<room>` joins, `I<text>` is an input, `L`
//! leaves (one command per line). The room answers a join with `joined r<room>`, broadcasts
//! `r<room> <text>` for each input, sends `full` to a member it cannot take, `timer` when the timer set at a join fires, and records
//! what happened in a shared log the test reads.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rooms::{Refused, Room, RoomContext, RoomHost, RoomId, RoomsConfig, RoomsHub};
use servercore::{CloseReason, Context, Handler, Model, Service, ServiceConfig, SessionId};

/// What the rooms did, in order.
pub type Log = Arc<Mutex<Vec<String>>>;

/// The test room.
pub struct LineRoom {
    id: RoomId,
    log: Log,
    /// Set a timer of this long at each join.
    timer: Option<Duration>,
}

impl LineRoom {
    fn note(&self, what: String) {
        self.log
            .lock()
            .unwrap()
            .push(format!("r{} {what}", self.id));
    }

    fn line(ctx: &mut RoomContext<'_, '_, ()>, text: &str) -> bytes::Bytes {
        let line = format!("{text}\n");
        ctx.core()
            .alloc(line.len(), |b| b.extend_from_slice(line.as_bytes()))
    }
}

impl Room for LineRoom {
    type Join = ();
    type Input = String;
    type Timer = ();

    fn join(
        &mut self,
        ctx: &mut RoomContext<'_, '_, ()>,
        member: SessionId,
        _: (),
    ) -> Result<(), Refused> {
        self.note(format!("join {member} loop {}", ctx.core().loop_index()));
        if let Some(after) = self.timer {
            ctx.set_timer(after, ()).expect("a timer");
        }
        let line = LineRoom::line(ctx, &format!("joined r{}", self.id));
        let _ = ctx.send(member, line);
        Ok(())
    }

    fn full(&mut self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, _: ()) {
        let line = LineRoom::line(ctx, "full");
        let _ = ctx.send(member, line);
    }

    fn leave(&mut self, _: &mut RoomContext<'_, '_, ()>, member: SessionId) {
        self.note(format!("leave {member}"));
    }

    fn input(&mut self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, input: String) {
        assert!(ctx.is_member(member));
        let line = LineRoom::line(ctx, &format!("r{} {input}", self.id));
        ctx.broadcast(&line);
    }

    fn tick(&mut self, ctx: &mut RoomContext<'_, '_, ()>) {
        let tick = ctx.tick();
        self.note(format!(
            "tick {} applied {}",
            tick.number, tick.inputs_applied
        ));
    }

    fn timer(&mut self, ctx: &mut RoomContext<'_, '_, ()>, (): ()) {
        let line = LineRoom::line(ctx, "timer");
        ctx.broadcast(&line);
    }

    fn closing(&mut self, ctx: &mut RoomContext<'_, '_, ()>) {
        assert!(ctx.members().is_empty());
        self.note("closing".into());
    }
}

/// The handler: lines in, room operations out.
pub struct LineGame {
    rooms: RoomHost<LineRoom>,
}

impl Handler for LineGame {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let mut used = 0;
        while let Some(end) = data[used..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&data[used..used + end]).into_owned();
            used += end + 1;
            let result = match line.split_at(1) {
                ("J", room) => self.rooms.join(ctx, id, RoomId(room.parse().unwrap()), ()),
                ("I", text) => self.rooms.input(ctx, id, text.to_string()),
                ("L", _) => self.rooms.leave(ctx, id),
                _ => Ok(()),
            };
            if let Err(err) = result {
                let _ = ctx.send_copy(id, format!("error {err}\n").as_bytes());
            }
        }
        used
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _: CloseReason) {
        self.rooms.disconnected(ctx, id);
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.rooms.notified(ctx);
        self.rejected(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.rooms.tick(ctx);
        self.rejected(ctx);
    }
}

impl LineGame {
    fn rejected(&mut self, ctx: &mut Context<'_>) {
        for (id, err) in self.rooms.take_rejected() {
            let _ = ctx.send_copy(id, format!("error {err}\n").as_bytes());
        }
    }
}

/// A running test server: 2 loops; connections are handed to the loops in turn (client `i`
/// lives on loop `i % 2`).
pub struct Server {
    pub service: Service<LineGame>,
    pub hub: RoomsHub<LineRoom>,
    pub log: Log,
    listener: TcpListener,
}

pub fn server(model: Model, config: RoomsConfig, timer: Option<Duration>) -> Server {
    let log = Log::default();
    let room_log = log.clone();
    let hub = RoomsHub::new(2, config, move |id| LineRoom {
        id,
        log: room_log.clone(),
        timer,
    });
    let service_config = ServiceConfig {
        threads: 2,
        model,
        tick: Some(config.loop_tick()),
        ..Default::default()
    };
    let service = Service::unbound(service_config, |i| LineGame { rooms: hub.host(i) })
        .expect("start the loops");
    hub.bind(service.notifier());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    Server {
        service,
        hub,
        log,
        listener,
    }
}

/// A client of the test server.
pub struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Server {
    /// Connects a client (the next loop in turn takes it).
    pub fn client(&self) -> Client {
        let addr: SocketAddr = self.listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        let (accepted, _) = self.listener.accept().unwrap();
        self.service.adopt(accepted);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Client { stream, reader }
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Client {
    pub fn send(&mut self, lines: &[&str]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    /// The next line the server sent.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .expect("a line within 20 s");
        assert!(line.ends_with('\n'), "the server closed: {line:?}");
        line.trim_end().to_string()
    }
}
