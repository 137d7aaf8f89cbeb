//! Churn: 10,000 connect/exchange/disconnect cycles leave open descriptors and live sessions
//! at their baseline. The variants share one process's descriptor table, so they take turns.

mod util;

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use servercore::Model;
use util::*;

/// Serializes the variants: descriptor counts are per process.
static FD_COUNTING: Mutex<()> = Mutex::new(());

/// The process's descriptor directory: one entry per open descriptor.
const FD_DIR: &str = if cfg!(target_os = "linux") {
    "/proc/self/fd"
} else {
    "/dev/fd" // macOS, the BSDs
};

fn open_fds() -> usize {
    std::fs::read_dir(FD_DIR)
        .unwrap_or_else(|err| panic!("{FD_DIR}: {err}"))
        .count()
}

fn churn_returns_to_baseline(model: Model) {
    let _turn = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    const CYCLES: usize = 10_000;
    let (service, closed) = echo_server(config(model));
    let addr = addr(&service);
    let baseline = open_fds();
    for i in 0..CYCLES {
        let mut s = connect(addr);
        s.write_all(&(i as u64).to_le_bytes()).unwrap();
        assert_eq!(read_n(&mut s, 8).unwrap(), (i as u64).to_le_bytes());
    }
    assert_live(&service, 0);
    assert!(wait_until(Duration::from_secs(10), || closed
        .lock()
        .unwrap()
        .len()
        == CYCLES));
    let after = open_fds();
    println!("{CYCLES} connect/echo/close cycles: fds {baseline} -> {after}, live 0");
    assert!(
        after <= baseline,
        "descriptors leaked: {baseline} -> {after}"
    );
}

one_model!(
    #[cfg_attr(
        windows,
        ignore = "counts descriptors in a descriptor directory: Windows has none"
    )]
    churn,
    churn_returns_to_baseline
);
