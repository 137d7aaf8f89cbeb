//! Probes io_uring on the build machine and writes the `both_models!` and `uring_test!` macros
//! accordingly: where the kernel refuses io_uring, or the tests are built for another OS than
//! Linux (io_uring is Linux's; servercore refuses `Model::Uring` there), the generated `uring`
//! tests carry `#[ignore = "<why>"]`, so they are reported as ignored with the reason, never
//! as passed.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let ignore = match why_no_uring() {
        None => String::new(),
        Some(why) => {
            println!("cargo::warning={why}: uring tests will be ignored");
            format!("#[ignore = \"{why}\"]")
        }
    };
    // A `both_models!` test's own attributes (e.g. an `ignore` on one platform) go on both
    // variants, except on a `uring` variant ignored already: one reason is enough.
    let uring_attrs = if ignore.is_empty() {
        "$(#[$meta])*"
    } else {
        &ignore
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("both_models.rs");
    let code = format!(
        r#"
/// Generates `mod $name {{ fn epoll(); fn uring(); }}`, each calling `super::$body(model)`:
/// one test body, run on both I/O models. Attributes before `$name` (say
/// `#[cfg_attr(windows, ignore = "why")]`) go on both tests.
#[macro_export]
macro_rules! both_models {{
    ($(#[$meta:meta])* $name:ident, $body:ident) => {{
        mod $name {{
            #[test]
            $(#[$meta])*
            fn epoll() {{
                super::$body(servercore::Model::Epoll);
            }}

            #[test]
            {uring_attrs}
            fn uring() {{
                super::$body(servercore::Model::Uring);
            }}
        }}
    }};
}}

/// Declares a test that needs io_uring: `uring_test! {{ fn name() {{ .. }} }}`. Where the
/// kernel refuses io_uring, or off Linux, it is `#[ignore]`d with the reason (reported as
/// ignored, never as passed); where io_uring is available, failing to start it fails the test.
#[macro_export]
macro_rules! uring_test {{
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {{
        #[test]
        {ignore}
        $(#[$meta])*
        fn $name() $body
    }};
}}
"#
    );
    std::fs::write(out, code).expect("write both_models.rs");
}

/// Why the `uring` tests cannot run where these tests are built for, if they cannot. The
/// script itself runs on the build host: `cfg` here says what the host is, the
/// `CARGO_CFG_TARGET_OS` variable what the tests are built for.
fn why_no_uring() -> Option<String> {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").expect("CARGO_CFG_TARGET_OS");
    if target_os != "linux" {
        return Some(format!(
            "io_uring is Linux-only; these tests are built for {target_os}"
        ));
    }
    probe_host()
}

/// The host's kernel refuses io_uring (a Linux host builds for Linux: it can tell).
#[cfg(target_os = "linux")]
fn probe_host() -> Option<String> {
    io_uring::IoUring::new(2)
        .err()
        .map(|err| format!("io_uring is not available on this machine: {err}"))
}

/// Tests built for Linux on another host: the host cannot probe the kernel they will run on.
#[cfg(not(target_os = "linux"))]
fn probe_host() -> Option<String> {
    Some("io_uring could not be probed: these tests were built on another OS than Linux".into())
}
