//! Echo: many concurrent clients, random sizes, random split points, every byte back in order.

mod util;

use std::time::Duration;

use rand::{Rng, SeedableRng};
use servercore::Model;
use util::*;

fn three_hundred_clients_random_splits(model: Model) {
    let (service, _) = echo_server(config(model));
    let addr = addr(&service);
    let clients: Vec<_> = (0..300u64)
        .map(|seed| {
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let len = rng.gen_range(1..48 * 1024);
                let data = pattern(seed, len);
                let mut splits = Vec::new();
                let mut left = len;
                while left > 0 {
                    let n = rng.gen_range(1..=left.min(4096));
                    splits.push(n);
                    left -= n;
                }
                let mut stream = connect(addr);
                write_chunks(&mut stream, &data, &splits).expect("write");
                let echoed = read_n(&mut stream, len).expect("read echo");
                assert!(
                    echoed == data,
                    "client {seed}: echo differs from what was sent"
                );
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
    assert_live(&service, 0);
}

fn many_rounds_on_one_session(model: Model) {
    let (service, _) = echo_server(config(model));
    let mut stream = connect(addr(&service));
    for round in 0..200u64 {
        let data = pattern(round, 1 + (round as usize * 37) % 3000);
        std::io::Write::write_all(&mut stream, &data).unwrap();
        assert_eq!(
            read_n(&mut stream, data.len()).unwrap(),
            data,
            "round {round}"
        );
    }
    assert_eq!(service.live_sessions(), 1);
    drop(stream);
    assert_live(&service, 0);
}

fn lecture_hello_world_every_tick(model: Model) {
    // The lecture's DummyClient: a 100-byte buffer starting with "Hello World".
    let (service, _) = echo_server(config(model));
    let mut stream = connect(addr(&service));
    let mut hello = [0u8; 100];
    hello[..11].copy_from_slice(b"Hello World");
    for _ in 0..3 {
        std::io::Write::write_all(&mut stream, &hello).unwrap();
        assert_eq!(read_n(&mut stream, 100).unwrap(), hello);
        std::thread::sleep(Duration::from_millis(20));
    }
}

both_models!(three_hundred_clients, three_hundred_clients_random_splits);
both_models!(one_session_many_rounds, many_rounds_on_one_session);
both_models!(lecture_hello_world, lecture_hello_world_every_tick);
