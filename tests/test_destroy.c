/* test_destroy.c - destroying a slab instance twice, or from two threads at
 * once, is refused and corrupts nothing (issue 13, item 3).
 *
 * oh_slab_destroy claims the instance in the registry, under its lock: the
 * handle must be registered and live, and is marked dead before anything is
 * torn down, so of two destroys (sequential or racing) exactly one wins. The
 * old core returned 0 for the second and emptied the process-wide registry:
 * another slab's in-use figures dropped to 0 while it still had live chunks.
 */
#include "test_util.h"

#include <pthread.h>

Test(destroy, slab_destroyed_twice_is_refused_and_others_keep_their_stats) {
  t_cap_install();
  oh_slab_t *keep = oh_slab_new(NULL), *s = oh_slab_new(NULL);
  cr_assert(keep != NULL && s != NULL);
  void *live[10];
  for (int i = 0; i < 10; i++) cr_assert((live[i] = oh_slab_alloc(keep, 1000)) != NULL);
  cr_assert(oh_slab_alloc(s, 64) != NULL);
  oh_stats_t g0;
  cr_assert_eq(oh_stats(&g0), 0);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_cap_reset();
  errno = 0;
  cr_expect_eq(oh_slab_destroy(s), -1, "a second destroy succeeded");
  cr_expect_eq(errno, EINVAL, "errno %s", t_errname(errno));
  cr_expect(t_cap_count() == 1 && strstr(t_cap.first_msg, "not a live instance") != NULL,
            "the second destroy said: %s", t_cap.first_msg);
  /* every other use of the dead handle is refused too */
  errno = 0;
  cr_expect_eq(oh_slab_alloc(s, 64), NULL);
  cr_expect_eq(errno, EINVAL);
  oh_stats_t st, g1;
  cr_assert_eq(oh_slab_stats(keep, &st), 0);
  cr_expect_eq(st.in_use_bytes, 10 * oh_slab_usable_size(keep, live[0]), "the live slab reports %llu bytes in use",
               (unsigned long long)st.in_use_bytes);
  cr_assert_eq(oh_stats(&g1), 0);
  cr_expect(g1.in_use_bytes >= st.in_use_bytes, "process in-use %llu below the live slab's %llu",
            (unsigned long long)g1.in_use_bytes, (unsigned long long)st.in_use_bytes);
  for (int i = 0; i < 10; i++) cr_expect_eq(oh_slab_decref(keep, live[i]), 1);
  cr_expect_eq(oh_slab_destroy(keep), 0);
  t_cap_remove();
}

typedef struct {
  oh_slab_t *s;
  pthread_barrier_t *go;
  int rc;
} destroyer_t;

static void *destroyer(void *arg) {
  destroyer_t *d = arg;
  pthread_barrier_wait(d->go);
  d->rc = oh_slab_destroy(d->s);
  return NULL;
}

Test(destroy, racing_destroys_of_one_slab_have_one_winner, .timeout = 60) {
  int rounds = t_small() ? 50 : 500, bad = 0;
  for (int r = 0; r < rounds; r++) {
    oh_slab_t *s = oh_slab_new(NULL);
    cr_assert(s != NULL);
    for (int i = 0; i < 8; i++) cr_assert(oh_slab_alloc(s, 16 << (i % 8)) != NULL);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    destroyer_t d[2] = {{s, &go, 0}, {s, &go, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, destroyer, &d[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    if ((d[0].rc == 0) + (d[1].rc == 0) != 1) bad++;
  }
  cr_expect_eq(bad, 0, "%d of %d racing destroy pairs did not have exactly one winner", bad, rounds);
  oh_stats_t g;
  cr_expect_eq(oh_stats(&g), 0);
}

/* A release through a destroyed instance names the pointer as well as the
 * instance: the pointer is what the caller can look up (which allocation it
 * still held), the dead handle alone does not say. */
Test(destroy, decref_on_a_destroyed_slab_names_the_pointer) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p = oh_slab_alloc(s, 64);
  cr_assert(p != NULL);
  cr_assert_eq(oh_slab_destroy(s), 0);
  char want_p[32], want_s[32];
  snprintf(want_p, sizeof want_p, "pointer %p", p);
  snprintf(want_s, sizeof want_s, "slab %p", (void *)s);
  struct {
    const char *fn;
    long r;
  } calls[4];
  t_cap_reset();
  errno = 0;
  calls[0].fn = "oh_slab_decref", calls[0].r = oh_slab_decref(s, p);
  cr_expect_eq(errno, EINVAL, "decref: errno %s", t_errname(errno));
  cr_expect(t_cap_count() == 1 && strstr(t_cap.last_msg, "oh_slab_decref of pointer") != NULL &&
                strstr(t_cap.last_msg, want_p) != NULL && strstr(t_cap.last_msg, want_s) != NULL &&
                strstr(t_cap.last_msg, "not a live instance") != NULL,
            "decref on a destroyed slab said: %s (want %s and %s)", t_cap.last_msg, want_p, want_s);
  calls[1].fn = "oh_slab_addref", calls[1].r = oh_slab_addref(s, p);
  cr_expect(strstr(t_cap.last_msg, "oh_slab_addref of pointer") != NULL && strstr(t_cap.last_msg, want_p) != NULL,
            "addref said: %s", t_cap.last_msg);
  calls[2].fn = "oh_slab_refcount", calls[2].r = oh_slab_refcount(s, p);
  cr_expect(strstr(t_cap.last_msg, "oh_slab_refcount of pointer") != NULL && strstr(t_cap.last_msg, want_p) != NULL,
            "refcount said: %s", t_cap.last_msg);
  calls[3].fn = "oh_slab_usable_size", calls[3].r = (long)oh_slab_usable_size(s, p);
  cr_expect(strstr(t_cap.last_msg, "oh_slab_usable_size of pointer") != NULL && strstr(t_cap.last_msg, want_p) != NULL,
            "usable_size said: %s", t_cap.last_msg);
  for (int i = 0; i < 3; i++) cr_expect_eq(calls[i].r, -1, "%s returned %ld", calls[i].fn, calls[i].r);
  cr_expect_eq(calls[3].r, 0, "oh_slab_usable_size returned %ld", calls[3].r);
  cr_expect_eq(t_cap_count(), 4);
  errno = 0;
  cr_expect_eq(oh_slab_decref(NULL, p), -1);
  cr_expect(strstr(t_cap.last_msg, want_p) != NULL && strstr(t_cap.last_msg, "NULL slab") != NULL,
            "decref on NULL said: %s", t_cap.last_msg);
  t_cap_remove();
}
