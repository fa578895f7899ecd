/* test_version.c - version and ABI queries, the options table, the error
 * handler and oh_last_error. */
#include "test_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

Test(version, string_matches_header_macros) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", OH_VERSION_MAJOR, OH_VERSION_MINOR, OH_VERSION_PATCH);
  const char *v = oh_version();
  cr_assert(v != NULL, "oh_version() returned NULL");
  cr_expect_str_eq(v, want, "oh_version() = \"%s\", header says \"%s\"", v, want);
}

Test(version, abi_matches_header_macro) {
  cr_expect_eq(oh_abi_version(), OH_ABI_VERSION, "oh_abi_version() = %d, OH_ABI_VERSION = %d",
               oh_abi_version(), OH_ABI_VERSION);
}

/* ---- options ---------------------------------------------------------------- */

typedef struct opt_case_s {
  oh_option_t opt;
  const char *name;
  long long good[4];
  int ngood;
  long long bad[4];
  int nbad;
} opt_case_t;

static const opt_case_t opt_cases[] = {
    {OH_OPT_PURGE_DELAY_MS, "PURGE_DELAY_MS", {0, -1, 1, 250}, 4, {-2, -100, LLONG_MIN}, 3},
    {OH_OPT_DEBUG, "DEBUG", {0, 1}, 2, {-1, LLONG_MIN}, 2},
    {OH_OPT_DECOMMIT_ADVICE, "DECOMMIT_ADVICE", {0, 1}, 2, {-1, 2, LLONG_MAX}, 3},
    {OH_OPT_TCACHE_BYTES, "TCACHE_BYTES", {0, 4096, 256 * 1024}, 3, {-1, LLONG_MIN}, 2},
    {OH_OPT_RETAIN_BYTES, "RETAIN_BYTES", {0, 1 << 20, 64 << 20}, 3, {-1, LLONG_MIN}, 2},
    {OH_OPT_HUGEPAGES, "HUGEPAGES", {0, 1}, 2, {-1, 2}, 2},
};

Test(options, set_get_round_trip_and_restore) {
  t_cap_install();
  for (size_t i = 0; i < sizeof opt_cases / sizeof opt_cases[0]; i++) {
    const opt_case_t *c = &opt_cases[i];
    long long orig = oh_option_get(c->opt);
    for (int k = 0; k < c->ngood; k++) {
      errno = 0;
      int rc = oh_option_set(c->opt, c->good[k]);
      cr_expect_eq(rc, 0, "oh_option_set(%s, %lld) = %d (%s)", c->name, c->good[k], rc,
                   t_errname(errno));
      cr_expect_eq(oh_option_get(c->opt), c->good[k], "oh_option_get(%s) = %lld after set %lld",
                   c->name, oh_option_get(c->opt), c->good[k]);
    }
    cr_expect_eq(oh_option_set(c->opt, orig), 0, "restoring %s to %lld failed", c->name, orig);
    cr_expect_eq(oh_option_get(c->opt), orig, "%s not restored", c->name);
  }
  T_EXPECT_NO_HANDLER("valid oh_option_set calls");
  t_cap_remove();
}

Test(options, out_of_range_values_are_einval_and_keep_old_value) {
  t_cap_install();
  for (size_t i = 0; i < sizeof opt_cases / sizeof opt_cases[0]; i++) {
    const opt_case_t *c = &opt_cases[i];
    long long orig = oh_option_get(c->opt);
    for (int k = 0; k < c->nbad; k++) {
      char what[96];
      snprintf(what, sizeof what, "oh_option_set(%s, %lld)", c->name, c->bad[k]);
      t_cap_reset();
      errno = 0;
      int rc = oh_option_set(c->opt, c->bad[k]);
      int e = errno;
      T_EXPECT_ERR(what, rc == -1, e, NULL, EINVAL);
      cr_expect_eq(oh_option_get(c->opt), orig, "%s changed the value to %lld", what,
                   oh_option_get(c->opt));
    }
  }
  t_cap_remove();
}

Test(options, unknown_option_is_einval) {
  t_cap_install();
  const int bad[] = {OH_OPT_COUNT_, OH_OPT_COUNT_ + 1, -1, 1000000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "oh_option_set(option %d, 0)", bad[i]);
    t_cap_reset();
    errno = 0;
    int rc = oh_option_set((oh_option_t)bad[i], 0);
    int e = errno;
    T_EXPECT_ERR(what, rc == -1, e, NULL, EINVAL);
  }
  t_cap_remove();
}

Test(options, purge_delay_default_is_valid) {
  long long d = oh_option_get(OH_OPT_PURGE_DELAY_MS);
  cr_expect(d >= -1, "default purge delay %lld is out of range", d);
  long long t = oh_option_get(OH_OPT_TCACHE_BYTES);
  cr_expect(t >= 0, "default thread cache bound %lld is negative", t);
}

/* ---- error handler / oh_last_error ------------------------------------------ */

Test(errors, handler_receives_errno_and_message_then_null_restores_silence) {
  t_cap_install();
  errno = 0;
  void *p = oh_map(0);
  int e = errno;
  T_EXPECT_ERR("oh_map(0)", p == NULL, e, NULL, EINVAL);

  /* NULL handler: errno and return value still report the error, but the old
   * handler is no longer called. */
  oh_set_error_handler(NULL, NULL);
  t_cap_reset();
  errno = 0;
  p = oh_map(0);
  e = errno;
  cr_expect(p == NULL, "oh_map(0) succeeded");
  cr_expect_eq(e, EINVAL, "oh_map(0): errno %s", t_errname(e));
  cr_expect_eq(t_cap_count(), 0, "handler called after oh_set_error_handler(NULL)");
  cr_expect(oh_last_error()[0] != '\0', "oh_last_error() empty after a silent error");
}

static void *fresh_thread_last_error(void *arg) {
  const char *m = oh_last_error();
  *(int *)arg = (m != NULL && m[0] == '\0');
  return NULL;
}

Test(errors, last_error_is_per_thread_and_empty_in_a_new_thread) {
  errno = 0;
  cr_assert(oh_map(0) == NULL, "oh_map(0) succeeded");
  cr_expect(oh_last_error()[0] != '\0', "oh_last_error() empty after a failed oh_map(0)");
  int empty = 0;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, fresh_thread_last_error, &empty), 0);
  pthread_join(t, NULL);
  cr_expect(empty, "a new thread sees another thread's last error");
}

typedef struct handler_arg_s {
  int calls;
  pthread_t thread;
  int same_thread;
} handler_arg_t;
static void recording_handler(int err, const char *msg, void *arg) {
  handler_arg_t *a = arg;
  a->calls++;
  a->same_thread = pthread_equal(pthread_self(), a->thread);
}

Test(errors, handler_runs_on_calling_thread_with_its_arg) {
  handler_arg_t a = {0, pthread_self(), 0};
  oh_set_error_handler(recording_handler, &a);
  int local;
  errno = 0;
  cr_expect_eq(oh_free(&local), -1, "oh_free(stack address) succeeded");
  oh_set_error_handler(NULL, NULL);
  cr_expect_eq(a.calls, 1, "handler called %d times", a.calls);
  cr_expect(a.same_thread, "handler ran on another thread");
}
