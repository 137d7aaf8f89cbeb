//! Per-session data: what a handler (and a framing layer under it) keeps on the session,
//! still readable in `disconnected`, gone with the session.

mod util;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::{CloseReason, Context, Handler, Model, Service, SessionId};
use util::*;

/// Bytes received so far by one session.
#[derive(Debug)]
struct Received(usize);

/// Counts each session's bytes on the session; reports the count when it closes.
struct Counter {
    totals: Arc<Mutex<Vec<usize>>>,
}

impl Handler for Counter {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        assert!(ctx.set_data(id, Received(0)).unwrap().is_none());
        assert!(ctx.set_data(id, "a second type").unwrap().is_none());
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        ctx.data_mut::<Received>(id).unwrap().0 += data.len();
        let _ = ctx.send_copy(id, b"k");
        data.len()
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _: CloseReason) {
        assert_eq!(ctx.data::<&str>(id), Some(&"a second type"));
        let total = ctx.take_data::<Received>(id).map_or(usize::MAX, |r| r.0);
        self.totals.lock().unwrap().push(total);
        assert!(ctx.data::<Received>(id).is_none(), "taken");
    }
}

fn data_lives_with_the_session(model: Model) {
    let totals = Arc::new(Mutex::new(Vec::new()));
    let shared = totals.clone();
    let service = Service::bind(loopback(), config(model), move |_| Counter {
        totals: shared.clone(),
    })
    .unwrap();
    for n in 1..=3usize {
        let mut stream = connect(addr(&service));
        for _ in 0..n {
            stream.write_all(&[7; 100]).unwrap();
            read_n(&mut stream, 1).unwrap();
        }
    }
    assert!(wait_until(Duration::from_secs(20), || totals
        .lock()
        .unwrap()
        .len()
        == 3));
    let mut totals = totals.lock().unwrap().clone();
    totals.sort_unstable();
    assert_eq!(totals, [100, 200, 300]);
}

one_model!(session_data, data_lives_with_the_session);
