//! [`bind_chat`]: a packet-mode chat server put together — the chat rooms, one [`Game`] per
//! loop, the rooms woken by the service's notifier. What `gameserver --protocol packet` runs,
//! and what tests and embedders start in process.

use std::io;
use std::net::SocketAddr;

use servercore::packet::{PacketHandler, Packets};
use servercore::{Service, ServiceConfig};

use rooms::RoomsHub;

use crate::chat_room::{chat_rooms, ChatRoom};
use crate::cluster::Cluster;
use crate::game::Game;

/// Binds a chat server on `addr` with `config`, rooms of `capacity` members (shared through
/// `cluster`'s link, each loop with its inbox, if given), each loop's game framed by
/// `packets` (the packet size, a rate limit, a login in front). Returns the service and its
/// rooms (for their stats).
///
/// # Errors
/// As [`Service::bind`].
pub fn bind_chat<P: PacketHandler>(
    addr: SocketAddr,
    config: ServiceConfig,
    capacity: usize,
    mut cluster: Option<&mut Cluster>,
    packets: impl Fn(Game) -> Packets<P>,
) -> io::Result<(Service<Packets<P>>, RoomsHub<ChatRoom>)> {
    let hub = chat_rooms(config.threads, capacity, cluster.as_ref().map(|c| c.link()));
    let service = hub.serve(addr, config, |index, rooms| {
        packets(match cluster.as_mut() {
            Some(cluster) => Game::clustered(rooms, cluster.inbox(index)),
            None => Game::new(rooms),
        })
    })?;
    Ok((service, hub))
}
