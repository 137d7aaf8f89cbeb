//! Probes io_uring on the build machine and writes the `both_models!` and `uring_test!` macros
//! accordingly: where
//! the kernel refuses io_uring, the generated `uring` tests carry `#[ignore = "<why>"]`, so they
//! are reported as ignored with the reason, never as passed.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let ignore = match io_uring::IoUring::new(2) {
        Ok(_) => String::new(),
        Err(err) => {
            println!("cargo::warning=io_uring unavailable ({err}): uring tests will be ignored");
            format!("#[ignore = \"io_uring is not available on this machine: {err}\"]")
        }
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("both_models.rs");
    let code = format!(
        r#"
/// Generates `mod $name {{ fn epoll(); fn uring(); }}`, each calling `super::$body(model)`:
/// one test body, run on both I/O models.
#[macro_export]
macro_rules! both_models {{
    ($name:ident, $body:ident) => {{
        mod $name {{
            #[test]
            fn epoll() {{
                super::$body(servercore::Model::Epoll);
            }}

            #[test]
            {ignore}
            fn uring() {{
                super::$body(servercore::Model::Uring);
            }}
        }}
    }};
}}

/// Declares a test that needs io_uring: `uring_test! {{ fn name() {{ .. }} }}`. Where the
/// kernel refuses io_uring it is `#[ignore]`d with the reason (reported as ignored, never as
/// passed); where io_uring is available, failing to start it fails the test.
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
