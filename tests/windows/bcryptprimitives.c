/* bcryptprimitives.c - ProcessPrng for Wine versions that lack it.
 *
 * Not part of offheap. Go 1.22 and later programs call ProcessPrng from
 * bcryptprimitives.dll at start-up (runtime randomness) and abort without it;
 * Wine 8.0 (Debian 12) has no bcryptprimitives.dll. `make test-windows`
 * builds this DLL and copies it into the system32 directory of its own Wine
 * prefix (build/win/wineprefix) only when that Wine has none, so the Go test
 * binaries can run there. Windows 10 and later ship the real DLL.
 *
 * ProcessPrng fills the buffer with cryptographically random bytes and
 * always returns TRUE; RtlGenRandom (advapi32's SystemFunction036) does the
 * same job on every Windows and Wine.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
