//! Probes io_uring on the build machine so the io_uring variants of the behaviour tests are
//! reported as *ignored* (with the reason) where the kernel refuses io_uring, instead of
//! passing without running. Sets `cfg(uring_unavailable)` in that case.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(uring_unavailable)");
    println!("cargo::rerun-if-changed=build.rs");
    if !uring_available() {
        println!("cargo::warning=io_uring is not available here: io_uring tests will be ignored");
        println!("cargo::rustc-cfg=uring_unavailable");
    }
}

#[cfg(target_os = "linux")]
fn uring_available() -> bool {
    io_uring::IoUring::new(2).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn uring_available() -> bool {
    false
}
