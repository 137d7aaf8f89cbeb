/*
 * bcryptprimitives.dll for Wine 8.0, which has none: Rust's standard library (1.78 and later)
 * imports ProcessPrng from it for HashMap seeds and the like, so without this DLL every Rust
 * program dies before main. It exports that one function and fills the buffer with
 * SystemFunction036 (RtlGenRandom) from advapi32, which Wine has.
 *
 * Built by scripts/wine/run.sh (x86_64-w64-mingw32-gcc -shared) into the Wine prefix's
 * system32, and loaded instead of Wine's builtin with WINEDLLOVERRIDES=bcryptprimitives=n.
 * Not needed on Windows itself (8 and later ship the DLL).
 */
#include <windows.h>

/* advapi32's export; <ntsecapi.h> names it RtlGenRandom through a macro. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/*
 * Fills data[0..len) with random bytes. Always TRUE, as Windows' own ProcessPrng: it cannot
 * fail there, and Rust's std treats FALSE as fatal. Should RtlGenRandom fail, the process is
 * ended instead of handing out bytes that are not random.
 */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* RtlGenRandom takes a ULONG (32 bits on Windows): large requests go in pieces. */
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            ExitProcess(3);
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
