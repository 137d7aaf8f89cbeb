//! Connecting to a port nothing listens on fails with a clear error, in bounded time.

mod util;

use std::time::{Duration, Instant};

use util::{closed_port, run_dummyclient, stderr};

#[test]
fn closed_port_fails_naming_the_address() {
    let addr = closed_port().to_string();
    let started = Instant::now();
    let output = run_dummyclient(
        &[
            "--addr",
            &addr,
            "--clients",
            "5",
            "--connect-timeout",
            "0.5",
        ],
        Duration::from_secs(10),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&format!("cannot connect to {addr}")), "{err}");
    assert!(err.contains("0 of 5 clients"), "{err}");
    assert!(output.stdout.is_empty(), "no report without a run");
}

#[test]
fn load_flag_without_clients_uses_defaults_and_still_needs_a_server() {
    let addr = closed_port().to_string();
    let output = run_dummyclient(
        &["--load", "--addr", &addr, "--connect-timeout", "0.2"],
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("0 of 100 clients"),
        "{}",
        stderr(&output)
    );
}
