//! [`bind_chat`]: a packet-mode chat server put together — the chat rooms, one [`Game`] per
//! loop, the service with the rooms' loop tick, the rooms woken by the service's notifier.
//! What `gameserver --protocol packet` runs, and what tests and embedders start in process.

use std::io;
use std::net::SocketAddr;

use servercore::packet::Packets;
use servercore::{Service, ServiceConfig};

use crate::chat_room::chat_rooms;
use crate::cluster::Cluster;
use crate::game::Game;

/// Binds a chat server on `addr` with `config` (its `tick` is set for the rooms), rooms of
/// `capacity` members (shared through `cluster`'s link, each loop with its inbox, if given),
/// each loop's game framed by `packets` (the packet size, a rate limit).
///
/// # Errors
/// As [`Service::bind`].
pub fn bind_chat(
    addr: SocketAddr,
    config: ServiceConfig,
    capacity: usize,
    mut cluster: Option<&mut Cluster>,
    packets: impl Fn(Game) -> Packets<Game>,
) -> io::Result<Service<Packets<Game>>> {
    let hub = chat_rooms(config.threads, capacity, cluster.as_ref().map(|c| c.link()));
    let config = ServiceConfig {
        tick: Some(hub.config().loop_tick()),
        ..config
    };
    let service = Service::bind(addr, config, |index| {
        let rooms = hub.host(index);
        packets(match cluster.as_mut() {
            Some(cluster) => Game::clustered(rooms, cluster.inbox(index)),
            None => Game::new(rooms),
        })
    })?;
    hub.bind(service.notifier());
    Ok(service)
}
