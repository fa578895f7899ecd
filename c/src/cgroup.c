/* cgroup.c - OFFHEAP_MEMORY_LIMIT values: sizes with units, and `auto`, the
 * memory limit of the cgroup the process runs in.
 *
 * `auto` reads, under an optional root prefix (tests point it at fixture
 * trees under go/offheap/testdata/cgroup):
 *   /proc/self/cgroup     "0::/path" (v2) or "N:...,memory,...:/path" (v1)
 *   /proc/self/mountinfo  where that hierarchy is mounted ("cgroup2", or
 *                         "cgroup" with the memory option) and which cgroup
 *                         the mount shows as its root (a container's
 *                         namespace shows "/")
 * and then memory.max (v2; "max" = none) or memory.limit_in_bytes (v1; a
 * value near 2^63 = none) in the process's cgroup directory and every parent
 * up to the mount, keeping the smallest: a parent's limit binds its children.
 * A v1 memory controller wins over v2 (on hybrid systems it is the one that
 * limits memory). Nothing found: no limit. The headroom (10%) is for memory
 * neither offheap nor a binding counts: thread stacks, malloc, page cache
 * charged to the cgroup.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#define AUTO_HEADROOM_PERCENT 10
#define PATH_MAX_ 4096

/* Reads a file's first line into buf (without the newline); false if absent. */
static bool read_line(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  bool ok = fgets(buf, (int)size, f) != NULL;
  fclose(f);
  if (ok) buf[strcspn(buf, "\n")] = '\0';
  return ok;
}

/* The limit in dir/file: bytes, or -1 for none (absent, "max", or v1's
 * "unlimited" near 2^63). */
static long long limit_file(const char *dir, const char *file) {
  char path[PATH_MAX_], line[64];
  int n = snprintf(path, sizeof path, "%s/%s", dir, file);
  if (n < 0 || (size_t)n >= sizeof path) return -1; /* a path this long names no cgroup file */
  if (!read_line(path, line, sizeof line)) return -1;
  if (strcmp(line, "max") == 0) return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(line, &end, 10);
  if (errno != 0 || end == line || v >= (1ULL << 62)) return -1;
  return (long long)v;
}

/* Whether the comma-separated list holds name. */
static bool list_has(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p != NULL && *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return true;
    p = comma ? comma + 1 : NULL;
  }
  return false;
}

/* The cgroup path of this process in the v1 memory hierarchy (v1 true) or
 * the v2 one, from /proc/self/cgroup. */
static bool own_cgroup(const char *root, bool v1, char *out, size_t size) {
  char path[PATH_MAX_], line[PATH_MAX_];
  snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  bool found = false;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL) continue;
    *c2 = '\0';
    bool match = v1 ? list_has(c1 + 1, "memory") : (strncmp(line, "0:", 2) == 0 && c1[1] == '\0');
    if (match) {
      snprintf(out, size, "%s", c2 + 1);
      found = true;
    }
  }
  fclose(f);
  return found;
}

/* Where the hierarchy is mounted and the cgroup its root shows, from
 * /proc/self/mountinfo: "id parent maj:min root mountpoint opts [tags] - fstype source superopts". */
static bool own_mount(const char *root, bool v1, char *mnt, char *mnt_root, size_t size) {
  char path[PATH_MAX_], line[PATH_MAX_];
  snprintf(path, sizeof path, "%s/proc/self/mountinfo", root);
  FILE *f = fopen(path, "r");
  if (f == NULL) return false;
  bool found = false;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *sep = strstr(line, " - ");
    if (sep == NULL) continue;
    *sep = '\0';
    char fstype[64] = "", source[256] = "", super[1024] = "";
    if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, super) < 1) continue;
    bool match = v1 ? strcmp(fstype, "cgroup") == 0 && list_has(super, "memory") : strcmp(fstype, "cgroup2") == 0;
    if (!match) continue;
    char r[PATH_MAX_], m[PATH_MAX_];
    if (sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2) continue;
    snprintf(mnt, size, "%s", m);
    snprintf(mnt_root, size, "%s", r);
    found = true;
  }
  fclose(f);
  return found;
}

/* The smallest limit from the process's cgroup up to the mount; -1 if none. */
static long long hierarchy_limit(const char *root, bool v1) {
  char cg[PATH_MAX_], mnt[PATH_MAX_], mnt_root[PATH_MAX_], dir[2 * PATH_MAX_ + 16];
  if (!own_cgroup(root, v1, cg, sizeof cg) || !own_mount(root, v1, mnt, mnt_root, sizeof mnt)) return -1;
  /* The cgroup path relative to what the mount shows as its root. */
  const char *rel = cg;
  size_t rl = strlen(mnt_root);
  if (strcmp(mnt_root, "/") != 0 && strncmp(cg, mnt_root, rl) == 0 && (cg[rl] == '/' || cg[rl] == '\0')) rel = cg + rl;
  if (rel[0] == '/') rel++;
  snprintf(dir, sizeof dir, "%s%s/%s", root, mnt, rel);
  size_t base_len = strlen(root) + strlen(mnt);
  const char *file = v1 ? "memory.limit_in_bytes" : "memory.max";
  long long best = -1;
  for (;;) {
    size_t len = strlen(dir);
    while (len > base_len && dir[len - 1] == '/') dir[--len] = '\0';
    long long v = limit_file(dir, file);
    if (v >= 0 && (best < 0 || v < best)) best = v;
    char *slash = strrchr(dir, '/');
    if (len <= base_len || slash == NULL || (size_t)(slash - dir) < base_len) break;
    *slash = '\0';
  }
  return best;
}

long long ohi_cgroup_memory_limit(const char *root) {
  if (root == NULL) root = "";
  long long v = hierarchy_limit(root, true);
  return v >= 0 ? v : hierarchy_limit(root, false);
}

/* ---- sizes ------------------------------------------------------------------- */

int oh_memory_limit_parse(const char *text, const char *cgroup_root, long long *limit) {
  if (text == NULL || limit == NULL) return ohi_fail(EINVAL, "oh_memory_limit_parse: NULL argument");
  const char *s = text;
  while (isspace((unsigned char)*s)) s++;
  if (strcmp(s, "none") == 0) {
    *limit = -1;
    return 0;
  }
  if (strcmp(s, "auto") == 0) {
    long long cg = ohi_cgroup_memory_limit(cgroup_root);
    *limit = cg < 0 ? -1 : cg - cg / 100 * AUTO_HEADROOM_PERCENT;
    return 0;
  }
  if (!isdigit((unsigned char)*s)) goto bad;
  char *end = NULL;
  errno = 0;
  unsigned long long whole = strtoull(s, &end, 10);
  if (errno != 0) goto bad;
  unsigned long long frac = 0, frac_div = 1;
  if (*end == '.') {
    end++;
    if (!isdigit((unsigned char)*end)) goto bad;
    for (; isdigit((unsigned char)*end); end++) {
      if (frac_div < 1000000ULL) { /* 6 digits: (frac << 40) stays in 64 bits */
        frac = frac * 10 + (unsigned long long)(*end - '0');
        frac_div *= 10;
      }
    }
  }
  while (*end == ' ') end++;
  static const struct {
    const char *name;
    unsigned shift;
  } units[] = {{"", 0}, {"B", 0}, {"K", 10}, {"KiB", 10}, {"M", 20}, {"MiB", 20},
               {"G", 30}, {"GiB", 30}, {"T", 40}, {"TiB", 40}};
  int u = -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    char lower[8];
    snprintf(lower, sizeof lower, "%s", units[i].name);
    if (strlen(lower) == 1) lower[0] = (char)tolower((unsigned char)lower[0]);
    if (strcmp(end, units[i].name) == 0 || (strlen(units[i].name) == 1 && strcmp(end, lower) == 0)) u = (int)i;
  }
  if (u < 0) {
    return ohi_fail(EINVAL,
                    "OFFHEAP_MEMORY_LIMIT=%s: unknown unit \"%s\" (want bytes, KiB, MiB, GiB or TiB - K, M, G, T "
                    "alike - or none or auto); no limit",
                    text, end);
  }
  unsigned shift = units[u].shift;
  if (whole > ((unsigned long long)OHI_MEMLIMIT_MAX >> shift)) {
    return ohi_fail(EINVAL, "OFFHEAP_MEMORY_LIMIT=%s: larger than the maximum (2^62 bytes); no limit", text);
  }
  unsigned long long bytes = (whole << shift) + (frac << shift) / frac_div;
  if (bytes == 0 || bytes > (unsigned long long)OHI_MEMLIMIT_MAX) {
    return ohi_fail(EINVAL, "OFFHEAP_MEMORY_LIMIT=%s: a limit must be between 1 byte and 2^62 bytes; no limit", text);
  }
  *limit = (long long)bytes;
  return 0;
bad:
  return ohi_fail(EINVAL,
                  "OFFHEAP_MEMORY_LIMIT=%s: not a size (want e.g. 2GiB, 1536MiB, 1.5GiB or 1073741824), none or "
                  "auto; no limit",
                  text);
}
