//! Another thread reaches a loop's handler through `Service::notifier`: the loop wakes from
//! its kernel wait, runs `Handler::notified`, and what the handler sends there leaves at once.

mod util;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::{Context, Handler, Model, Service, SessionId};
use util::*;

/// Sends every line another thread queues to every session of its loop.
struct Broadcaster {
    queue: Arc<Mutex<mpsc::Receiver<Vec<u8>>>>,
    sessions: Vec<SessionId>,
    connected: mpsc::Sender<()>,
    notified: Arc<Mutex<u64>>,
}

impl Handler for Broadcaster {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.sessions.push(id);
        let _ = self.connected.send(());
    }

    fn received(&mut self, _ctx: &mut Context<'_>, _id: SessionId, data: &[u8]) -> usize {
        data.len()
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        *self.notified.lock().unwrap() += 1;
        for line in self.queue.lock().unwrap().try_iter() {
            for &id in &self.sessions {
                let _ = ctx.send_copy(id, &line);
            }
        }
    }
}

fn notified_loop_sends(model: Model) {
    let (to_loop, queue) = mpsc::channel::<Vec<u8>>();
    let queue = Arc::new(Mutex::new(queue));
    let (connected_tx, connected) = mpsc::channel();
    let notified = Arc::new(Mutex::new(0));
    let config = servercore::ServiceConfig {
        threads: 1,
        ..config(model)
    };
    let service = Service::bind(loopback(), config, |_| Broadcaster {
        queue: queue.clone(),
        sessions: Vec::new(),
        connected: connected_tx.clone(),
        notified: notified.clone(),
    })
    .unwrap();
    let mut client = connect(service.local_addr().unwrap());
    connected.recv_timeout(Duration::from_secs(30)).unwrap();

    let notifier = service.notifier();
    assert_eq!(notifier.loops(), 1);
    assert!(!notifier.notify(1), "no loop 1");
    // The loop sleeps with no timer due: only the notification can wake it.
    for round in 0..50u8 {
        to_loop.send(vec![round; 100]).unwrap();
        assert!(notifier.notify(0));
        assert_eq!(read_n(&mut client, 100).unwrap(), vec![round; 100]);
    }
    // A burst: every line arrives, in order, with at most one call per notification.
    let before = *notified.lock().unwrap();
    let burst: Vec<u8> = (0..200u8).collect();
    for &b in &burst {
        to_loop.send(vec![b]).unwrap();
        notifier.notify_all();
    }
    assert_eq!(read_n(&mut client, burst.len()).unwrap(), burst);
    let calls = *notified.lock().unwrap() - before;
    assert!((1..=200).contains(&calls), "{calls} notified calls");
    service.stop();
}

one_model!(notified_loop_sends, notified_loop_sends);
