//! gameserver behind a load balancer: without PROXY protocol a header is never trusted (in
//! packet mode it is a bad packet); with it, behind a real HAProxy (`send-proxy-v2`), chat
//! works end to end for clients from two addresses.

mod util;

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use gameserver::protocol;
use servercore::{AddressList, CloseReason, Model, ProxyProtocol, ServiceConfig};
use testkit::haproxy::Haproxy;
use util::*;

fn header_is_a_bad_packet_by_default(model: Model) {
    let (service, reasons) = game_server(model, ServiceConfig::default());
    let mut stream = connect(addr(&service));
    stream
        .write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 7777\r\n")
        .unwrap();
    assert!(closed_by_server(&mut stream));
    assert!(wait_until(Duration::from_secs(20), || reasons
        .lock()
        .unwrap()
        .iter()
        .any(|r| matches!(r, CloseReason::Protocol(_)))));
}

fn chat_through_haproxy(model: Model) {
    let config = ServiceConfig {
        trusted_sources: AddressList::empty(),
        proxy_protocol: Some(ProxyProtocol::new("127.0.0.1/32".parse().unwrap())),
        ..ServiceConfig::default()
    };
    let (service, _) = game_server(model, config);
    let haproxy = Haproxy::start(addr(&service)).expect("haproxy (installed by .ci/run)");
    let front = haproxy.frontend();
    let mut a = testkit::connect_from(IpAddr::from([127, 0, 0, 2]), front);
    let mut b = testkit::connect_from(IpAddr::from([127, 0, 0, 3]), front);
    join(&mut a, 9);
    join(&mut b, 9);
    send_packet(&mut a, protocol::CHAT, b"hello through the balancer");
    for member in [&mut a, &mut b] {
        let (id, body) = read_packet(member).unwrap();
        assert_eq!(id, protocol::CHAT_BROADCAST);
        assert_eq!(body, b"hello through the balancer");
    }
    assert_live(&service, 2); // the health checks are not sessions
}

one_model!(
    proxy_header_untrusted_by_default,
    header_is_a_bad_packet_by_default
);
one_model!(
    #[cfg_attr(
        not(target_os = "linux"),
        ignore = "needs HAProxy (the Debian package .ci/run installs) and 127.0.0.2-3 as sources"
    )]
    chat_behind_haproxy,
    chat_through_haproxy
);
