/*
 * bcryptprimitives.c - a one-function stand-in for Windows' bcryptprimitives.dll,
 * for running Go programs under Wine 8 only. Never ship it to real Windows.
 *
 * Why: Go >= 1.22 on Windows loads bcryptprimitives.dll at start-up and gets
 * its random bytes from ProcessPrng. Wine 8 has no such DLL, so every Go
 * binary dies at once with "fatal error: bcryptprimitives.dll not found".
 * This DLL provides just ProcessPrng, on top of RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine does implement.
 *
 * The Go runtime loads the DLL from system32 only, so mingw.mk installs the
 * built DLL as $(WINEPREFIX)/drive_c/windows/system32/bcryptprimitives.dll
 * before the prefix is first used.
 *
 * Build (see the wine-prefix target in mingw.mk):
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -shared -s \
 *       -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>
#include <limits.h> /* ULONG_MAX: ULONG is 32 bits on Windows */

/* RtlGenRandom is exported by advapi32 under the name SystemFunction036
 * (<ntsecapi.h> only #defines one name as the other); declared here directly
 * so the import this DLL relies on is plain to see. */
__declspec(dllimport) BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/*
 * ProcessPrng fills data[0:len) with cryptographically random bytes.
 * The real one is documented to always return TRUE; this one returns FALSE if
 * RtlGenRandom ever fails, and Go then reports the failure itself.
 * SIZE_T is 64-bit but RtlGenRandom takes a 32-bit ULONG length, so large
 * requests are filled in chunks of at most ULONG_MAX bytes.
 */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > (SIZE_T)ULONG_MAX ? ULONG_MAX : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
