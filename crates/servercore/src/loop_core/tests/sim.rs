//! [`Sim`]: a loop on the fake driver with a manual clock, for the tests of the loop's
//! policies (`policy.rs`) and of its transport stages (`tls.rs`).

use std::net::SocketAddr;

use super::*;
use crate::clock::ManualClock;
use crate::session::pipeline::Recipe;
use crate::LoopStats;
use rfc6455::WsConfig;

/// A loop on the fake driver with a manual clock.
pub(super) struct Sim<H: Handler> {
    pub(super) core: LoopCore<H>,
    pub(super) driver: FakeDriver,
    pub(super) clock: ManualClock,
    events: Vec<Event<FakeSocket>>,
}

impl<H: Handler> Sim<H> {
    pub(super) fn new(config: ServiceConfig, handler: H) -> Sim<H> {
        let loops: Arc<[Arc<Mailbox>]> = vec![Arc::new(Mailbox::default())].into();
        let admission = Arc::new(Admission::for_config(&config));
        let clock = ManualClock::new();
        let config = Arc::new(config);
        let core = LoopCore::with_clock(
            0,
            config,
            loops,
            admission,
            handler,
            Box::new(clock.clone()),
        );
        let driver = FakeDriver {
            capacity: usize::MAX,
            ..FakeDriver::default()
        };
        Sim {
            core,
            driver,
            clock,
            events: Vec::new(),
        }
    }

    /// One loop iteration; false once the loop has drained after a stop.
    pub(super) fn step(&mut self) -> bool {
        self.core
            .iterate(&mut self.driver, &mut self.events)
            .unwrap()
    }

    /// Moves the clock by `by`, then one iteration.
    pub(super) fn advance(&mut self, by: Duration) -> bool {
        self.clock.advance(by);
        self.step()
    }

    /// A connection from `peer` on the loop's own listener; its session, if it became one.
    pub(super) fn accept(&mut self, peer: [u8; 4]) -> Option<SessionId> {
        let before = self.core.session_ids();
        let peer = SocketAddr::from((peer, 40_000));
        self.driver.events.push(Event::Accepted {
            stream: FakeSocket,
            peer,
        });
        self.step();
        self.core
            .session_ids()
            .into_iter()
            .find(|id| !before.contains(id))
    }

    /// A connection from `peer` on a WebSocket listener.
    pub(super) fn accept_websocket(&mut self, peer: [u8; 4], config: WsConfig) -> SessionId {
        let recipe = Recipe {
            websocket: Some(Arc::new(config)),
            ..Recipe::for_port(self.core.config())
        };
        self.accept_with(peer, &recipe)
    }

    /// A connection from `peer` on a listener whose connections start with `recipe`'s stages.
    pub(super) fn accept_with(&mut self, peer: [u8; 4], recipe: &Recipe) -> SessionId {
        let before = self.core.session_ids();
        let peer = SocketAddr::from((peer, 40_000));
        self.core
            .accepted(&mut self.driver, FakeSocket, peer, recipe);
        self.step();
        let ids = self.core.session_ids();
        ids.into_iter()
            .find(|id| !before.contains(id))
            .expect("a session")
    }

    /// `id`'s peer sends `bytes`; one iteration.
    pub(super) fn input(&mut self, id: SessionId, bytes: &[u8]) {
        feed(&mut self.driver, id, Pending::Data(bytes.to_vec()));
        self.driver.events.push(Event::Readable(id));
        self.step();
    }

    /// `id`'s peer sends its FIN; one iteration.
    pub(super) fn eof(&mut self, id: SessionId) {
        feed(&mut self.driver, id, Pending::Eof);
        self.driver.events.push(Event::Readable(id));
        self.step();
    }

    pub(super) fn live(&self, id: SessionId) -> bool {
        self.core.state.sessions.get(id).is_some()
    }

    pub(super) fn written(&self, id: SessionId) -> &[u8] {
        self.driver.written.get(&id).map_or(&[], Vec::as_slice)
    }

    pub(super) fn stats(&self) -> &LoopStats {
        self.core.stats()
    }
}
