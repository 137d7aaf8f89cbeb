//! [`RoomsHub`]: the rooms of one service, put together before the service starts — the job
//! queues, the rooms' config and factory, every loop's stats — and handing each loop its
//! [`RoomHost`]. Cheap to clone (shared).
//!
//! ```text
//!   let hub = RoomsHub::new(loops, config, |id| MyRoom::new(id));
//!   let service = hub.serve(addr, service_config, |_loop, rooms| MyHandler { rooms })?;
//!     = Service::bind(addr, ServiceConfig { tick: Some(config.loop_tick()), .. },
//!                     |i| MyHandler { rooms: hub.host(i) })?;
//!       hub.bind(service.notifier());    // from now on a post wakes its loop at once
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use servercore::{Handler, Notifier, Service, ServiceConfig};

use crate::config::RoomsConfig;
use crate::context::RoomContext;
use crate::host::RoomHost;
use crate::jobs::{Job, JobQueues};
use crate::room::{Room, RoomId};
use crate::stats::{LoopRoomStats, RoomsSnapshot};

/// What the loops share.
pub(crate) struct HubShared<R: Room> {
    pub(crate) queues: JobQueues<R>,
    pub(crate) config: RoomsConfig,
    pub(crate) factory: Box<dyn Fn(RoomId) -> R + Send + Sync>,
    pub(crate) stats: Box<[LoopRoomStats]>,
    /// Each loop's receiving end, until its host takes it.
    inboxes: Mutex<Vec<Option<Receiver<Job<R>>>>>,
}

/// The rooms of a service of `loops` event loops.
pub struct RoomsHub<R: Room> {
    shared: Arc<HubShared<R>>,
}

impl<R: Room> Clone for RoomsHub<R> {
    fn clone(&self) -> Self {
        RoomsHub {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Room> std::fmt::Debug for RoomsHub<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomsHub")
            .field("loops", &self.shared.queues.loops())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<R: Room> RoomsHub<R> {
    /// Rooms for `loops` loops (at least 1); `factory` makes a room on its owning loop when
    /// its first member asks in.
    pub fn new(
        loops: usize,
        config: RoomsConfig,
        factory: impl Fn(RoomId) -> R + Send + Sync + 'static,
    ) -> RoomsHub<R> {
        let loops = loops.max(1);
        let (queues, receivers) =
            JobQueues::new(loops, config.max_posted_inputs, config.max_posted_bytes);
        let shared = HubShared {
            queues,
            config,
            factory: Box::new(factory),
            stats: (0..loops).map(|_| LoopRoomStats::default()).collect(),
            inboxes: Mutex::new(receivers.into_iter().map(Some).collect()),
        };
        RoomsHub {
            shared: Arc::new(shared),
        }
    }

    /// Loop `index`'s host, for its handler (the service factory's argument).
    ///
    /// # Panics
    /// If `index` is not a loop of this hub or its host was taken already (a setup bug).
    pub fn host(&self, index: usize) -> RoomHost<R> {
        let inbox = self
            .shared
            .inboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_else(|| panic!("RoomsHub::host({index}): no such loop, or taken twice"));
        RoomHost::new(index, self.shared.clone(), inbox)
    }

    /// Wakes loops from now on when jobs are posted to them (call once the service runs:
    /// `hub.bind(service.notifier())`). Before it, jobs wait for the loop's next tick. False
    /// if it was bound already.
    pub fn bind(&self, notifier: Notifier) -> bool {
        self.shared.queues.bind(notifier)
    }

    /// Binds a service on `addr` whose loop `i` runs `handler(i, host i)`, with
    /// `ServiceConfig::tick` set for the rooms (`config.threads` should be the hub's `loops`),
    /// and binds the hub to the service's notifier.
    ///
    /// # Errors
    /// As [`Service::bind`].
    pub fn serve<H: Handler>(
        &self,
        addr: SocketAddr,
        config: ServiceConfig,
        mut handler: impl FnMut(usize, RoomHost<R>) -> H,
    ) -> io::Result<Service<H>> {
        let config = ServiceConfig {
            tick: Some(self.shared.config.loop_tick()),
            ..config
        };
        let service = Service::bind(addr, config, |index| handler(index, self.host(index)))?;
        self.bind(service.notifier());
        Ok(service)
    }

    /// Runs `f` with room `room` on its owning loop, from any thread (a test looking at a
    /// room, an admin command). Nothing runs if the room does not exist then: have `f` send
    /// its result on a channel and treat a closed channel as "no such room".
    pub fn visit(
        &self,
        room: RoomId,
        f: impl for<'r, 'a> FnOnce(&mut R, &mut RoomContext<'r, 'a, R::Timer>) + Send + 'static,
    ) {
        let owner = room.owner(self.shared.queues.loops());
        let visit = Box::new(f);
        self.shared.queues.post(owner, Job::Visit { room, visit });
    }

    /// The rooms' config.
    pub fn config(&self) -> &RoomsConfig {
        &self.shared.config
    }

    /// Number of loops.
    pub fn loops(&self) -> usize {
        self.shared.queues.loops()
    }

    /// Every loop's counters, added up (gauges and the tick histogram as of each loop's last
    /// publication, about once a second).
    pub fn stats(&self) -> RoomsSnapshot {
        RoomsSnapshot::sum(self.shared.stats.iter())
    }
}
