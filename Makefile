# offheap - build, test and benchmark.
#
#   make            build/liboffheap.a, build/liboffheap.so (soname), build/offheap.pc
#   make help       every target, one line each
#   make test       every test: C suite (plain, ASan+UBSan, TSan, valgrind), Go tests
#                   (plain, -race, cgocheck2), bench module tests
#   make bench      the main job: GC-pressure comparison against native slices
#                   (table on stdout, chart in build/gcpressure.svg, ~1.5 min)
#   make bench-c    C micro-benchmark against glibc malloc, jemalloc, mimalloc
#   make bench-go   Go micro-benchmarks against make, sync.Pool and peers
#   make install PREFIX=/usr/local [DESTDIR=...]
#
# Missing tools are installed on first use: Debian packages through apt-get
# (when run as root), Go modules through the module proxy.

SHELL := /bin/bash
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
GO ?= go
PREFIX ?= /usr/local
DESTDIR ?=
BUILD := build

VERSION_MAJOR := $(shell sed -n 's/^\#define OH_VERSION_MAJOR \([0-9]*\)/\1/p' c/include/offheap.h)
VERSION_MINOR := $(shell sed -n 's/^\#define OH_VERSION_MINOR \([0-9]*\)/\1/p' c/include/offheap.h)
VERSION_PATCH := $(shell sed -n 's/^\#define OH_VERSION_PATCH \([0-9]*\)/\1/p' c/include/offheap.h)
ABI := $(shell sed -n 's/^\#define OH_ABI_VERSION \([0-9]*\)/\1/p' c/include/offheap.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

CSTD := -std=c11 -D_GNU_SOURCE
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT ?= -O2 -g
LIB_CFLAGS := $(CSTD) $(WARN) $(OPT) -fPIC -fvisibility=hidden -pthread -Ic/include
LIB_SRCS := $(filter-out c/src/os_windows.c,$(wildcard c/src/*.c))
LIB_HDRS := c/include/offheap.h $(wildcard c/src/*.h)

TEST_SRCS := $(wildcard tests/*.c)
TEST_HDRS := $(wildcard tests/*.h)
# Criterion runs tests in forked workers; -j2 matches the machine.
CRITERION_ARGS ?= --jobs 2

# `make` with no target builds the library: the mk/*.mk files included below
# define rules of their own, and without this the first of them would be the
# default goal.
.DEFAULT_GOAL := all

# Each mk/*.mk adds its own targets, the short versions of its checks to
# TEST_EXTRA, which `make test` runs after the core suites, and what those
# run to TEST_BUILD (built first, see make test below).
TEST_EXTRA :=
TEST_BUILD :=
include $(sort $(wildcard mk/*.mk))

.PHONY: bench-memlimit all lib help test test-build test-c test-asan test-tsan test-valgrind test-go test-bench-module \
        bench bench-c bench-go bench-hyperfine install uninstall clean deps-c deps-bench

all: lib ## the library: build/liboffheap.a, liboffheap.so (with soname) and offheap.pc (the default)
lib: $(BUILD)/liboffheap.a $(BUILD)/liboffheap.so $(BUILD)/offheap.pc ## the same as all

# Every target a user may name carries a `## ` comment on its rule line; help
# prints them, so a new target documents itself where it is defined.
help: ## this list
	@awk -F ':[^#]*## ' '/^[a-z][a-z0-9-]*:[^=#]*## / { printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# ---- the library -----------------------------------------------------------

# $(call objs,variant): object files of the library for one build variant.
objs = $(patsubst c/src/%.c,$(BUILD)/$(1)/obj/%.o,$(LIB_SRCS))

$(BUILD)/rel/obj/%.o: c/src/%.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/liboffheap.a: $(call objs,rel)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/liboffheap.so.$(VERSION): $(call objs,rel)
	$(CC) -shared -pthread -Wl,-soname,liboffheap.so.$(ABI) -o $@ $^
$(BUILD)/liboffheap.so: $(BUILD)/liboffheap.so.$(VERSION)
	ln -sf liboffheap.so.$(VERSION) $(BUILD)/liboffheap.so.$(ABI)
	ln -sf liboffheap.so.$(VERSION) $@

$(BUILD)/offheap.pc: c/offheap.pc.in c/include/offheap.h
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# Sanitizer / debug variants of the library, linked into the C tests.
SAN_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_tsan := -O1 -g -fsanitize=thread
SAN_dbg  := -O0 -g
$(BUILD)/asan/obj/%.o: c/src/%.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(SAN_asan) -fPIC -pthread -Ic/include -c $< -o $@
$(BUILD)/tsan/obj/%.o: c/src/%.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(SAN_tsan) -fPIC -pthread -Ic/include -c $< -o $@
$(BUILD)/dbg/obj/%.o: c/src/%.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(SAN_dbg) -fPIC -pthread -Ic/include -c $< -o $@

# ---- C tests ---------------------------------------------------------------

CRITERION_H := /usr/include/criterion/criterion.h
deps-c: ## install libcriterion-dev and valgrind with apt-get when missing (as root)
	@if [ ! -f $(CRITERION_H) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing libcriterion-dev (apt-get)"; \
	    (apt-get install -y -qq libcriterion-dev >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq libcriterion-dev)) ; \
	  else echo "libcriterion-dev is missing: run as root or install it (apt-get install libcriterion-dev)"; exit 1; fi; fi
	@command -v valgrind >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -qq valgrind >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq valgrind)); }

TEST_CFLAGS = $(CSTD) -Wall -Wextra -Wno-unused-parameter -pthread -Ic/include -Ic/src -Itests

# Each test file compiles on its own, so that make -j builds them side by
# side; once per variant, with that variant's flags, and linked with the
# library's objects of the same variant.
test_objs = $(patsubst tests/%.c,$(BUILD)/$(1)/tests/%.o,$(TEST_SRCS))
$(BUILD)/rel/tests/%.o: tests/%.c $(TEST_HDRS) $(LIB_HDRS) | deps-c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -O1 -g -c $< -o $@
$(BUILD)/asan/tests/%.o: tests/%.c $(TEST_HDRS) $(LIB_HDRS) | deps-c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_asan) -c $< -o $@
$(BUILD)/tsan/tests/%.o: tests/%.c $(TEST_HDRS) $(LIB_HDRS) | deps-c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_tsan) -c $< -o $@
$(BUILD)/dbg/tests/%.o: tests/%.c $(TEST_HDRS) $(LIB_HDRS) | deps-c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_dbg) -c $< -o $@
$(BUILD)/rel/offheap_tests: $(call test_objs,rel) $(call objs,rel)
	$(CC) -pthread $^ -lcriterion -o $@
$(BUILD)/asan/offheap_tests: $(call test_objs,asan) $(call objs,asan)
	$(CC) -pthread $(SAN_asan) $^ -lcriterion -o $@
$(BUILD)/tsan/offheap_tests: $(call test_objs,tsan) $(call objs,tsan)
	$(CC) -pthread $(SAN_tsan) $^ -lcriterion -o $@
$(BUILD)/dbg/offheap_tests: $(call test_objs,dbg) $(call objs,dbg)
	$(CC) -pthread $(SAN_dbg) $^ -lcriterion -o $@

test-c: $(BUILD)/rel/offheap_tests ## the C suite, plain -O2 build
	$< $(CRITERION_ARGS)
# Runs of pages (OFFHEAP_PAGE_RUNS) are on by default: every suite runs once
# more with them off (plain, and the thread, steal and owner suites under
# TSan), so the size classes of those sizes go through what the runs do.
TSAN_CLASSES_SUITES := @(threads|purge_steal|misuse_race|owner|ownership|thread_exit)
test-c-classes: $(BUILD)/rel/offheap_tests $(BUILD)/tsan/offheap_tests ## the C suite with OFFHEAP_PAGE_RUNS=0 (plain; threads and steals under TSan)
	OFFHEAP_PAGE_RUNS=0 $(BUILD)/rel/offheap_tests $(CRITERION_ARGS)
	set -o pipefail; OFFHEAP_PAGE_RUNS=0 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OH_TEST_NO_RSS=1 \
	  $(BUILD)/tsan/offheap_tests $(CRITERION_ARGS) --filter '$(TSAN_CLASSES_SUITES)/*' 2>&1 | tee $(BUILD)/tsan/tests-classes.log
	@! grep -E $(SAN_REPORTS) $(BUILD)/tsan/tests-classes.log
# RSS tests read /proc/self/statm; ASan's shadow memory makes them meaningless,
# so sanitizer runs set OH_TEST_NO_RSS and those tests skip their RSS asserts only.
# A report raised after a test's verdict (by the purger thread, say) may not
# change Criterion's tally, so the output is scanned for reports as well.
SAN_REPORTS := 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer'
test-asan: $(BUILD)/asan/offheap_tests ## the C suite under ASan+UBSan (and LeakSanitizer)
	set -o pipefail; ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  OH_TEST_NO_RSS=1 $< $(CRITERION_ARGS) 2>&1 | tee $(BUILD)/asan/tests.log
	@! grep -E $(SAN_REPORTS) $(BUILD)/asan/tests.log
# The fork suite runs apart without TSan's deadlock detector: fork takes every
# lock of the library (jemalloc does the same), more than the 64 held mutexes
# the detector can track, and the child starts its own purger thread, which
# TSan refuses after a multithreaded fork unless die_after_fork=0. Data races
# are still reported there.
test-tsan: $(BUILD)/tsan/offheap_tests ## the C suite under TSan
	set -o pipefail; TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OH_TEST_NO_RSS=1 $< $(CRITERION_ARGS) \
	  --filter '!(fork)/*' 2>&1 | tee $(BUILD)/tsan/tests.log
	set -o pipefail; TSAN_OPTIONS=halt_on_error=1:detect_deadlocks=0:die_after_fork=0 OH_TEST_NO_RSS=1 $< $(CRITERION_ARGS) \
	  --filter 'fork/*' 2>&1 | tee -a $(BUILD)/tsan/tests.log
	@! grep -E $(SAN_REPORTS) $(BUILD)/tsan/tests.log
# valgrind memcheck is here for what no sanitizer of this suite reports: reads
# of uninitialised memory, in an -O0 build. It costs about a second per test
# process (valgrind translates the program anew in each of Criterion's
# workers), so it runs the suites whose code paths it can check, at
# OH_TEST_SMALL sizes, and leaves out the thread storms - fork, threads,
# ownership, misuse_race: valgrind runs one thread at a time, so it sees one
# interleaving of what they race, which TSan checks, and the memory they
# touch is ASan's. thread_exit (the caches torn down at a thread's exit) stays.
# One job: make test runs it beside the other parts, on the core they leave.
# "Possibly lost" blocks are the purger thread's TLS (a detached thread that
# lives until exit), not leaks: only definite leaks are shown and fail.
VALGRIND_SKIP := fork|threads|ownership|misuse_race
test-valgrind: $(BUILD)/dbg/offheap_tests ## the C suite under valgrind memcheck, but the thread storms (OH_TEST_SMALL sizes)
	OH_TEST_NO_RSS=1 OH_TEST_SMALL=1 valgrind -q --error-exitcode=99 --leak-check=full \
	  --show-leak-kinds=definite --errors-for-leak-kinds=definite --trace-children=yes $< --jobs 1 \
	  --filter '!($(VALGRIND_SKIP))/*'

# ---- Go --------------------------------------------------------------------

# cgo compiles c/ through bindings/; the build cache does not see edits under
# c/, so the Go targets pass the sources' hash through CGO_CFLAGS.
C_HASH = $(shell cat $(LIB_SRCS) $(LIB_HDRS) | sha1sum | cut -c1-12)
GO_ENV = CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -DOH_SRC_HASH=$(C_HASH)"

# Plain go test runs every package. The race detector and cgocheck2 look at
# what Go shares - across goroutines, and with C through cgo: go/offheap and
# bindings (go/decommit has neither goroutines nor cgo; it runs plain, -asan
# and without cgo). The tests that build a module, a vendor tree or the
# shared library in a subprocess check packaging, and their builds are not
# instrumented: they run once, in the plain run (GO_BUILD_TESTS).
GO_SHARED_PKGS := ./go/offheap ./bindings
GO_BUILD_TESTS := ^(TestVendoredBuild|TestSharedLibraryBuild|TestFailOSSharedBuild)$$
test-go: ## go vet, go test (plain, -race, cgocheck2, OFFHEAP_PAGE_RUNS=0) and go/decommit without cgo
	$(GO_ENV) $(GO) vet ./...
	$(GO_ENV) $(GO) test -count=1 ./...
	$(GO_ENV) $(GO) test -count=1 -race -skip '$(GO_BUILD_TESTS)' $(GO_SHARED_PKGS)
	$(GO_ENV) GOEXPERIMENT=cgocheck2 $(GO) test -count=1 -skip '$(GO_BUILD_TESTS)' $(GO_SHARED_PKGS)
	$(GO_ENV) OFFHEAP_PAGE_RUNS=0 $(GO) test -count=1 -skip '$(GO_BUILD_TESTS)' $(GO_SHARED_PKGS)
	CGO_ENABLED=0 $(GO) test -count=1 ./go/decommit/...

test-bench-module: ## go vet and go test of the bench module
	cd bench && $(GO_ENV) $(GO) vet ./... && $(GO_ENV) $(GO) test -count=1 ./...

# ---- make test ---------------------------------------------------------------

# make test builds everything its parts run first, with -j2 and in one make
# (TEST_BUILD; the mk/*.mk files add theirs), so that no two parts build the
# same objects at once. Then the parts run in two lanes (mk/test-parts.sh):
# TEST_BESIDE, the parts that leave a core idle - valgrind's single job, the
# fuzzers' fixed time, the bench end-to-end runs that mostly sleep through
# idle windows - one after another, beside the main lane, which runs the rest
# in order. The table of each part's wall time comes at the end.
TEST_BUILD += lib $(foreach v,rel asan tsan dbg,$(BUILD)/$(v)/offheap_tests)
TEST_PARTS = test-c test-c-classes test-asan test-tsan test-valgrind test-go test-bench-module $(TEST_EXTRA)
TEST_BESIDE = $(filter test-valgrind test-burst test-frag test-fuzz-short,$(TEST_PARTS))
test-build: ## everything make test runs, built with -j2
	@$(MAKE) --no-print-directory -j2 $(TEST_BUILD)

# (make is passed by another name: a line naming $(MAKE) would run even under
# make -n, which is to print the parts, not run them.)
TEST_MAKE = $(MAKE)
test: ## every test, in two lanes after one build, with the time of each part
	@MAKE="$(TEST_MAKE)" mk/test-parts.sh $(BUILD)/test-times test-build "$(TEST_BESIDE)" \
	  "$(filter-out $(TEST_BESIDE),$(TEST_PARTS))"
	@echo "make test: all suites passed"

# ---- benchmarks ------------------------------------------------------------

deps-bench: ## install jemalloc, mimalloc and hyperfine with apt-get when missing (as root)
	@missing=""; \
	 [ -f /usr/include/jemalloc/jemalloc.h ] || missing="$$missing libjemalloc-dev"; \
	 [ -f /usr/include/mimalloc.h ] || missing="$$missing libmimalloc-dev"; \
	 command -v hyperfine >/dev/null || missing="$$missing hyperfine"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ]; then echo "installing$$missing (apt-get)"; \
	     apt-get install -y -qq $$missing >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $$missing); \
	   else echo "missing:$$missing (install with apt-get)"; exit 1; fi; fi

# The chart goes to build/ unless BENCH_CHART says otherwise; gcpressure
# prints where it wrote it.
BENCH_CHART ?= $(CURDIR)/$(BUILD)/gcpressure.svg
bench: ## the main job: GC pressure against native slices (table, build/gcpressure.svg; BENCH_ARGS)
	@mkdir -p $(dir $(BENCH_CHART))
	cd bench && $(GO_ENV) $(GO) run ./gcpressure -chart $(BENCH_CHART) $(BENCH_ARGS)

BENCH_C_SRCS := $(wildcard bench/cbench/*.c)
$(BUILD)/bench/cbench: $(BENCH_C_SRCS) $(wildcard bench/cbench/*.h) bench/internal/charness/charness.h $(BUILD)/liboffheap.a | deps-bench
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O2 -g -pthread -Ic/include -Ibench/internal/charness $(BENCH_C_SRCS) $(BUILD)/liboffheap.a -ljemalloc -lmimalloc -o $@
bench-c: $(BUILD)/bench/cbench ## C micro-benchmark against glibc, jemalloc and mimalloc (BENCH_C_ARGS)
	$< $(BENCH_C_ARGS)

BENCH_GO_ARGS ?= -benchtime 200ms -count 6
bench-go: ## Go micro-benchmarks against make, sync.Pool and peers (BENCH_GO_ARGS)
	@mkdir -p $(BUILD)
	cd bench && $(GO_ENV) $(GO) test -run '^$$' -bench . -benchmem $(BENCH_GO_ARGS) ./micro/ | tee ../$(BUILD)/bench-go.txt

bench-memlimit: ## one budget for Go and off-heap memory: native+GOMEMLIMIT, offheap, offheap+SetMemoryLimit (MEMLIMIT_ARGS)
	cd bench && $(GO_ENV) $(GO) run ./memlimit $(MEMLIMIT_ARGS)

bench-hyperfine: | deps-bench ## gcpressure modes timed by hyperfine (HYPERFINE_ARGS, BENCH_ARGS)
	cd bench && $(GO_ENV) $(GO) build -o ../$(BUILD)/gcpressure ./gcpressure
	hyperfine --warmup 1 --runs 5 $(HYPERFINE_ARGS) \
	  $(foreach m,native native-memlimit sync-pool offheap offheap-pool offheap-slab,-n $(m) '$(BUILD)/gcpressure -child -modes $(m) $(BENCH_ARGS)')

# ---- install ---------------------------------------------------------------

install: lib ## install header, libraries and offheap.pc under PREFIX (and DESTDIR)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 c/include/offheap.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/liboffheap.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/liboffheap.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf liboffheap.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/liboffheap.so.$(ABI)
	ln -sf liboffheap.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/liboffheap.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' c/offheap.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/offheap.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/offheap.pc

uninstall: ## remove what install installed
	rm -f $(DESTDIR)$(PREFIX)/include/offheap.h $(DESTDIR)$(PREFIX)/lib/liboffheap.a \
	  $(DESTDIR)$(PREFIX)/lib/liboffheap.so $(DESTDIR)$(PREFIX)/lib/liboffheap.so.$(ABI) \
	  $(DESTDIR)$(PREFIX)/lib/liboffheap.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/pkgconfig/offheap.pc

clean: ## remove build/
	rm -rf $(BUILD)
