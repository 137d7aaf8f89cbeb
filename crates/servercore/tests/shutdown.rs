//! Shutdown: stopping a service closes every session (clients see EOF, handlers see
//! `Shutdown`) and returns the handlers; dropping it does the same.

mod util;

use std::io::Write;

use servercore::{CloseReason, Model};
use util::*;

fn stop_closes_every_session(model: Model) {
    let (service, closed) = echo_server(config(model));
    let mut streams: Vec<_> = (0..10).map(|_| connect(addr(&service))).collect();
    for s in &mut streams {
        s.write_all(b"ping").unwrap();
        assert_eq!(read_n(s, 4).unwrap(), b"ping");
    }
    assert_live(&service, 10);
    let handlers = service.stop();
    assert_eq!(handlers.len(), 2);
    assert!(handlers.iter().all(|h| h.is_ok()));
    for s in &mut streams {
        assert_eq!(read_to_eof(s).unwrap(), b"", "client sees an orderly close");
    }
    let reasons = closed.lock().unwrap().clone();
    assert_eq!(reasons.len(), 10);
    assert!(
        reasons.iter().all(|r| *r == CloseReason::Shutdown),
        "{reasons:?}"
    );
}

fn drop_stops_the_service(model: Model) {
    let (service, closed) = echo_server(config(model));
    let addr = addr(&service);
    let mut stream = connect(addr);
    assert_live(&service, 1);
    drop(service);
    assert_eq!(read_to_eof(&mut stream).unwrap(), b"");
    assert_eq!(*closed.lock().unwrap(), vec![CloseReason::Shutdown]);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener closed"
    );
}

both_models!(stop, stop_closes_every_session);
both_models!(drop_service, drop_stops_the_service);
