//! A listening port is never shared silently (issue 28): a second service on a port another
//! listens on is refused with `AddrInUse` and a message naming the port, and so is a
//! WebSocket listener on a service's own port; with `ServiceConfig::reuse_port` on both, the
//! second joins the port and the kernel spreads connections over both.

mod util;

use std::io::{ErrorKind, Write};

use servercore::websocket::WsConfig;
use servercore::{Model, Service};
use util::*;

fn a_held_port_is_refused(model: Model) {
    let (first, _) = echo_server(config(model));
    let addr = addr(&first);
    let err = Service::bind(addr, config(model), |_| Echo::default()).expect_err("port held");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("port {} ", addr.port())), "{text}");
    assert!(text.contains("another process"), "{text}");

    let err = first
        .listen_websocket(addr, WsConfig::new(4096))
        .expect_err("the game port is the loops'");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

    // The first still serves.
    let mut client = connect(addr);
    client.write_all(b"still here").unwrap();
    assert_eq!(read_n(&mut client, 10).unwrap(), b"still here");
}

one_model!(
    a_second_service_on_a_held_port_is_refused,
    a_held_port_is_refused
);

#[cfg(target_os = "linux")]
fn reuse_port_shares(model: Model) {
    let shared = servercore::ServiceConfig {
        reuse_port: true,
        ..config(model)
    };
    let (first, _) = echo_server(shared.clone());
    let addr = addr(&first);
    let second = Service::bind(addr, shared, |_| Echo::default()).expect("a hand-over joins");
    assert_eq!(second.local_addr(), Some(addr));
    // The kernel hashes each connection to one of the four sockets: both get some soon.
    let mut clients = Vec::new();
    let both = wait_until(std::time::Duration::from_secs(20), || {
        let mut client = connect(addr);
        client.write_all(b"x").unwrap();
        assert_eq!(read_n(&mut client, 1).unwrap(), b"x");
        clients.push(client);
        first.live_sessions() > 0 && second.live_sessions() > 0
    });
    assert!(both, "{} connections all went to one", clients.len());
}

#[cfg(target_os = "linux")]
one_model!(reuse_port_on_both_shares_the_port, reuse_port_shares);
