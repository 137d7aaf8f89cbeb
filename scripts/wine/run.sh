#!/usr/bin/env bash
# Runs a Windows program under Wine: scripts/wine/run.sh PROGRAM.exe [ARGS...]
#
# cargo's runner for x86_64-pc-windows-gnu (scripts/wine/test.sh sets it), and the way to
# start gameserver.exe or dummyclient.exe by hand:
#   cargo build --release --target x86_64-pc-windows-gnu -p gameserver
#   scripts/wine/run.sh target/x86_64-pc-windows-gnu/release/gameserver.exe --port 7790
#
# Needs Debian's wine64 and gcc-mingw-w64-x86-64. The Wine prefix lives in the target
# directory (target/wine, or $WINEPREFIX if set) and is made on the first run (wineboot,
# ~20 s), with bcryptprimitives.dll built from bcryptprimitives.c into its system32: Wine 8.0
# has no such DLL and Rust's std cannot start without it. Both steps run under a lock, so
# programs started side by side on a fresh checkout do not race.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target_dir="${CARGO_TARGET_DIR:-$here/../../target}"
mkdir -p "$target_dir"
export WINEPREFIX="${WINEPREFIX:-$(cd "$target_dir" && pwd)/wine}"
export WINEDEBUG=-all
# Debian's `wine` wrapper looks for 32-bit Wine first and warns that it is missing; the
# programs are 64-bit, so the 64-bit loader is called directly (package wine64).
wine=$(command -v wine64 || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } || echo wine)
wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver)

shim_src="$here/bcryptprimitives.c"
shim_dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
{
    flock 9
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        echo "scripts/wine/run.sh: making the Wine prefix $WINEPREFIX (once)" >&2
        # No Mono or Gecko installers (nothing here needs .NET or HTML): no download, no dialog.
        WINEDLLOVERRIDES="mscoree,mshtml=" "$wine" wineboot --init >/dev/null 2>&1
        "$wineserver" -w
    fi
    if [ ! -f "$shim_dll" ] || [ "$shim_src" -nt "$shim_dll" ]; then
        x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Wextra -Werror \
            -o "$shim_dll" "$shim_src" -ladvapi32
    fi
} 9>"$target_dir/wine.lock"

# A Wine server that outlives each program by 30 s (exit status 2 if one runs already). Left
# to itself, Debian's starts with no delay (`-p0`) and quits as each program ends: the next
# one, a moment later, would pay for a new server or, starting just as the old one goes,
# die with "wine client error: recvmsg: Connection reset by peer".
"$wineserver" -p30 </dev/null >/dev/null 2>&1 || true

# The shim instead of Wine's builtin (Wine 9 and later have one; native first either way).
export WINEDLLOVERRIDES="bcryptprimitives=n${WINEDLLOVERRIDES:+;$WINEDLLOVERRIDES}"
exec "$wine" "$@"
