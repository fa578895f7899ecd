/* as_os.h - makes c/src/os_unix.c, compiled on Linux, take the branches of
 * another OS (for tests/unix/os_unix_advice.c; -include'd before os_unix.c).
 *
 * The system headers os_unix.c and internal.h use are included first, as on
 * Linux (the C library's headers cannot be parsed as another OS's: gcc's own
 * stddef.h looks for <machine/ansi.h> under __OpenBSD__); then __linux__ goes
 * and the chosen OS's predefined macro comes, so only os_unix.c's own
 * conditionals see the other OS. Choose with -DOH_AS_FREEBSD, -DOH_AS_NETBSD,
 * -DOH_AS_OPENBSD, -DOH_AS_DRAGONFLY or -DOH_AS_APPLE.
 */
#ifndef OH_TEST_AS_OS_H
#define OH_TEST_AS_OS_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#undef __linux__
#undef __linux
#undef __gnu_linux__
#undef linux

#if defined(OH_AS_FREEBSD)
#define __FreeBSD__ 14
#elif defined(OH_AS_NETBSD)
#define __NetBSD__ 1
#elif defined(OH_AS_OPENBSD)
#define __OpenBSD__ 1
#elif defined(OH_AS_DRAGONFLY)
#define __DragonFly__ 1
#elif defined(OH_AS_APPLE)
#define __APPLE__ 1
#else
#error "as_os.h: choose an OS with -DOH_AS_<OS>"
#endif

#endif /* OH_TEST_AS_OS_H */
