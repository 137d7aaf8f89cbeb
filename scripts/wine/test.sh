#!/usr/bin/env bash
# The tests of the Windows build, run under Wine (CI runs this, .ci/run):
#   scripts/wine/test.sh                                   every crate's tests (--workspace)
#   scripts/wine/test.sh -p servercore --test echo         any `cargo test` arguments
#
# Builds the tests for x86_64-pc-windows-gnu (linked by x86_64-w64-mingw32-gcc, the target's
# default linker) and has cargo start each test program, doctests too, through
# scripts/wine/run.sh. A test that starts gameserver.exe or dummyclient.exe starts it under
# the same Wine: the test is a Windows program itself. Each both_models! test runs on epoll
# (mio) and on iocp (the IOCP driver), as does servercore's driver contract suite. The uring
# tests are reported ignored (io_uring is Linux's), as are the few that need a Linux program
# (redis-server, HAProxy) or a Unix signal, each with its reason; files that need Chromium or
# signals throughout are `cfg(unix)`.
#
# The runner is set here, not in .cargo/config.toml: there it would also apply on a Windows
# host with the GNU toolchain, where the tests run natively.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$here/run.sh"
[ $# -gt 0 ] || set -- --workspace
exec cargo test --target x86_64-pc-windows-gnu "$@"
