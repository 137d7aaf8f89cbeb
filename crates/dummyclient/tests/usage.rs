//! Flag combinations clap's attributes cannot express are usage errors like clap's own: a
//! message naming the flags on stderr and exit status 2, before anything connects.

mod util;

use std::time::Duration;

use util::{run_dummyclient, stderr};

#[test]
fn contradicting_flags_exit_2_naming_them() {
    for (args, says) in [
        (
            &["--clients", "2", "--rooms", "3"][..],
            "--rooms and --chat-rate need --scenario chat",
        ),
        (
            &["--clients", "2", "--scenario", "chat"],
            "--scenario chat needs --protocol packet",
        ),
        (
            &[
                "--clients",
                "2",
                "--protocol",
                "packet",
                "--scenario",
                "chat",
                "--rate",
                "9",
            ],
            "--scenario chat is paced by --chat-rate",
        ),
        (
            &["--clients", "2", "--websocket"],
            "--websocket needs --protocol packet",
        ),
        (&["--clients", "2", "--plot", "run.png"], "SVG only"),
        (
            &["--protocol", "packet"],
            "--protocol packet needs --clients N",
        ),
        (&["--count", "2", "--clients", "3"], "cannot be used with"),
        (
            &["--clients", "2", "--addr", "http://127.0.0.1:7777"],
            "--addr wants host:port",
        ),
        (&["--interactive"], "--interactive speaks packets"),
        (&["--room", "3"], "--interactive"),
        (
            &["--interactive", "--protocol", "packet", "--clients", "2"],
            "cannot be used with",
        ),
    ] {
        let output = run_dummyclient(args, Duration::from_secs(20));
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.starts_with("error: "), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
}
