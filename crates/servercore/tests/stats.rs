//! Stats: each loop's counters move as clients connect, send and leave, and merge over loops.

mod util;

use std::io::Write;
use std::time::Duration;

use servercore::{LoopStats, Model};
use util::*;

fn merged<H: servercore::Handler>(service: &servercore::Service<H>) -> LoopStats {
    let mut total = LoopStats::default();
    for s in service.stats() {
        total.merge(&s);
    }
    total
}

fn counters_follow_the_traffic(model: Model) {
    let (service, _) = echo_server(config(model));
    assert_eq!(service.stats().len(), 2, "one entry per loop");
    let mut clients: Vec<_> = (0..4).map(|_| connect(addr(&service))).collect();
    for c in &mut clients {
        c.write_all(&[7; 1000]).unwrap();
        assert_eq!(read_n(c, 1000).unwrap(), vec![7; 1000]);
    }
    // Published copies lag by up to a sweep interval: wait for the traffic to show.
    let live = wait_until(Duration::from_secs(5), || {
        let s = merged(&service);
        s.sessions_live == 4 && s.bytes_out == 4000
    });
    assert!(live, "{:?}", merged(&service));
    let s = merged(&service);
    assert_eq!(s.accepted, 4);
    assert_eq!(s.bytes_in, 4000);
    assert_eq!(s.bytes_out, 4000);
    assert!(s.send_queue_high_water >= 1000 / 4, "{s:?}");
    assert!(s.iterations > 0);
    drop(clients);
    let closed = wait_until(Duration::from_secs(5), || {
        merged(&service).closed_by("peer_closed") == 4
    });
    assert!(closed, "{:?}", merged(&service));
    let s = merged(&service);
    assert_eq!(
        (s.sessions_live, s.closed_total(), s.send_queue_bytes),
        (0, 4, 0)
    );
}

one_model!(counters, counters_follow_the_traffic);
