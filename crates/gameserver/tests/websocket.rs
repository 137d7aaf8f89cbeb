//! Browser players: a WebSocket player and a TCP player in one room see each other's chats,
//! with the same rules (every member gets each chat once, in order), on both models.

mod util;

use std::time::Duration;

use gameserver::protocol;
use rfc6455::WsConfig;
use servercore::{Model, ServiceConfig};
use util::ws_player::WsPlayer;
use util::*;

fn tcp_and_browser_players_share_a_room(model: Model) {
    let (service, _) = game_server(model, ServiceConfig::default());
    let ws_addr = service
        .listen_websocket(loopback(), WsConfig::new(4096))
        .unwrap();
    let mut tcp = connect(addr(&service));
    let mut browser = WsPlayer::connect(ws_addr);
    join(&mut tcp, 3);
    browser.send(protocol::ENTER_ROOM, &3u32.to_le_bytes());
    assert_eq!(browser.recv().0, protocol::ROOM_JOINED);
    for round in 0..20u8 {
        send_packet(&mut tcp, protocol::CHAT, &[b't', round]);
        browser.send(protocol::CHAT, &[b'w', round]);
        // Each member gets both chats; per sender, in the order sent.
        let mut from_tcp = Vec::new();
        let mut from_ws = Vec::new();
        for _ in 0..2 {
            let (id, body) = read_packet(&mut tcp).unwrap();
            assert_eq!(id, protocol::CHAT_BROADCAST);
            from_tcp.push(body);
            let (id, body) = browser.recv();
            assert_eq!(id, protocol::CHAT_BROADCAST);
            from_ws.push(body);
        }
        for got in [&mut from_tcp, &mut from_ws] {
            got.sort();
            assert_eq!(*got, vec![vec![b't', round], vec![b'w', round]]);
        }
    }
    browser.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(wait_until(Duration::from_secs(20), || service
        .live_sessions()
        == 1));
}

one_model!(
    tcp_and_browser_share_a_room,
    tcp_and_browser_players_share_a_room
);
