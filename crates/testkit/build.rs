//! Probes io_uring on the build machine and writes the `both_models!` and `uring_test!` macros
//! accordingly: where the kernel refuses io_uring, or the tests are built for another OS than
//! Linux (io_uring is Linux's; servercore refuses `Model::Uring` there), the generated `uring`
//! tests carry `#[ignore = "<why>"]`, so they are reported as ignored with the reason, never
//! as passed. Likewise the `iocp` tests (the I/O completion port driver) run only where the
//! tests are built for Windows, and are ignored with the reason elsewhere.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let ignore = ignore_attr(why_no_uring(), "uring");
    // A `both_models!` test's own attributes (e.g. an `ignore` on one platform) go on every
    // variant, except on a variant ignored already: one reason is enough.
    let uring_attrs = attrs_unless_ignored(&ignore);
    // Not warned about: off Windows that is always so, as nothing else can be.
    let iocp_ignore = why_no_iocp().map_or_else(String::new, |why| ignore_with(&why));
    let iocp_attrs = attrs_unless_ignored(&iocp_ignore);
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("both_models.rs");
    let code = format!(
        r#"
/// Generates `mod $name {{ fn epoll(); fn uring(); fn iocp(); }}`, each calling
/// `super::$body(model)`: one test body, run on the readiness model and on the completion
/// model of each OS (io_uring on Linux, the I/O completion port on Windows; the other is
/// ignored with the reason). Attributes before `$name` (say
/// `#[cfg_attr(windows, ignore = "why")]`) go on every test.
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

            #[test]
            {iocp_attrs}
            fn iocp() {{
                super::$body(servercore::Model::Iocp);
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

/// `#[ignore = "<why>"]` (and a build warning) if the `model` tests cannot run, else nothing.
fn ignore_attr(why: Option<String>, model: &str) -> String {
    match why {
        None => String::new(),
        Some(why) => {
            println!("cargo::warning={why}: {model} tests will be ignored");
            ignore_with(&why)
        }
    }
}

/// `#[ignore = "<why>"]`.
fn ignore_with(why: &str) -> String {
    format!("#[ignore = \"{why}\"]")
}

/// The test's own attributes, unless the variant is ignored already (then its reason alone).
fn attrs_unless_ignored(ignore: &str) -> &str {
    if ignore.is_empty() {
        "$(#[$meta])*"
    } else {
        ignore
    }
}

/// Why the `iocp` tests cannot run where these tests are built for: anywhere but Windows.
fn why_no_iocp() -> Option<String> {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").expect("CARGO_CFG_TARGET_OS");
    (target_os != "windows").then(|| {
        format!("the I/O completion port is Windows-only; these tests are built for {target_os}")
    })
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
