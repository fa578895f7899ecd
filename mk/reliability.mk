# mk/reliability.mk - fuzzing, soak and the -asan Go run (issue 6; RELIABILITY.md).
#
#   make fuzz                 libFuzzer target on the C ABI (tests/fuzz/*.c, clang with
#                             -fsanitize=fuzzer,address,undefined), then the Go fuzz target
#                             FuzzOps (go/offheap/fuzz_test.go): FUZZ_TIME seconds each
#                             (default 300). New C inputs go to build/fuzz/corpus, crashers
#                             to build/fuzz/; Go crashers to go/offheap/testdata/fuzz/FuzzOps.
#   make soak                 8 threads x 10 M mixed operations on the C core (tests/soak/*.c,
#                             -O2), then 8 goroutines x 10 M through the Go API (TestSoak with
#                             OFFHEAP_SOAK_OPS); SOAK_OPS overrides the 10 M.
#   make soak-tsan            the TSan soak (8 x 50 k, options flipped) SOAK_TSAN_RUNS times (default
#                             20): a race needs its interleaving, which one run in make test may
#                             miss (session 6's showed in 5 runs of 10)
#   make test-fuzz-short      the seed corpora, plus FUZZ_SHORT seconds (default 15) of each fuzzer
#   make test-soak-short      the C soak: 8 x 200 k (-O2) twice (the second with the options
#                             flipped meanwhile), 8 x 100 k under ASan+UBSan, 8 x 50 k under TSan
#                             (the Go soak's short version runs in every `go test`)
#   make test-go-asan         go test -asan ./go/... ./bindings
#
# The three short targets are part of `make test` (TEST_EXTRA): 70-90 s together on 2 cores.
# clang and its libFuzzer runtime are installed with apt-get when missing (as root).

FUZZ_CC ?= clang
FUZZ_TIME ?= 300
FUZZ_SHORT ?= 15
SOAK_OPS ?= 10000000
SOAK_TSAN_RUNS ?= 20
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_BIN := $(FUZZ_DIR)/fuzz_ops
FUZZ_SEEDS := tests/fuzz/corpus
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter -pthread -Ic/include -Ic/src
# libFuzzer: inputs up to 2 KiB (about 500 operations), artifacts under build/.
FUZZ_RUN_FLAGS := -max_len=2048 -artifact_prefix=$(FUZZ_DIR)/ -print_final_stats=1
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
GO_FUZZ_FLAGS := -run '^$$' -fuzz '^FuzzOps$$' -fuzzminimizetime 20x

.PHONY: fuzz soak soak-tsan test-fuzz-short test-soak-short test-go-asan deps-fuzz fuzz-c fuzz-go

# clang with libFuzzer: Debian's clang, and libclang-rt-N-dev for its runtime.
deps-fuzz: ## install clang and its libFuzzer runtime with apt-get when missing (as root)
	@if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer - -o /dev/null >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "$(FUZZ_CC) with libFuzzer is missing: run as root or apt-get install clang libclang-rt-dev"; exit 1; fi; \
	  command -v $(FUZZ_CC) >/dev/null || { echo "installing clang (apt-get)"; \
	    apt-get install -y -qq clang >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq clang); }; \
	  v=$$($(FUZZ_CC) --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1); \
	  echo "installing libclang-rt-$$v-dev (apt-get)"; \
	  apt-get install -y -qq libclang-rt-$$v-dev >/dev/null 2>&1 || \
	    (apt-get update -qq && apt-get install -y -qq libclang-rt-$$v-dev); \
	  printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer - -o /dev/null || { echo "$(FUZZ_CC) still cannot link libFuzzer"; exit 1; }; \
	fi

# The fuzz target links the core's sources itself (with -Ic/src, for the
# fault-injection hook), instrumented for coverage and the sanitizers.
# Its own sources are tests/fuzz/*.c (fuzz_ops.c has the overview).
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
$(FUZZ_BIN): $(FUZZ_SRCS) $(wildcard tests/fuzz/*.h) $(LIB_SRCS) $(LIB_HDRS) | deps-fuzz
	@mkdir -p $(@D) $(FUZZ_DIR)/corpus
	$(FUZZ_CC) $(FUZZ_FLAGS) $(LIB_SRCS) $(FUZZ_SRCS) -o $@

fuzz-c: $(FUZZ_BIN) ## the libFuzzer target on the C ABI for FUZZ_TIME seconds
	@mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_ENV) $< $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_TIME) $(FUZZ_DIR)/corpus $(FUZZ_SEEDS)

fuzz-go: ## the Go fuzz target FuzzOps for FUZZ_TIME seconds
	$(GO_ENV) $(GO) test $(GO_FUZZ_FLAGS) -fuzztime $(FUZZ_TIME)s ./go/offheap

fuzz: fuzz-c fuzz-go ## fuzz-c then fuzz-go

# Seeds first (every committed input once), then a short fuzzing run each.
# The C run starts from the seeds alone (a fresh working corpus), so that its
# time stays bounded however much `make fuzz` has grown build/fuzz/corpus.
# The Go seed corpus (f.Add and testdata/fuzz/FuzzOps) also runs in every go test.
test-fuzz-short: $(FUZZ_BIN) ## the seed corpora and FUZZ_SHORT seconds of each fuzzer (make test)
	$(FUZZ_ENV) $< $(FUZZ_RUN_FLAGS) -runs=0 $(FUZZ_SEEDS)
	rm -rf $(FUZZ_DIR)/short-corpus && mkdir -p $(FUZZ_DIR)/short-corpus
	$(FUZZ_ENV) $< $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SHORT) $(FUZZ_DIR)/short-corpus $(FUZZ_SEEDS)
	$(GO_ENV) $(GO) test $(GO_FUZZ_FLAGS) -fuzztime $(FUZZ_SHORT)s ./go/offheap

# ---- soak --------------------------------------------------------------------

# The soak is tests/soak/*.c (soak.c has the overview).
SOAK_SRCS := $(wildcard tests/soak/*.c)
SOAK_HDRS := $(wildcard tests/soak/*.h)
# The sanitizer builds of the core (rules in the Makefile); spelled out here
# because this file is read before the Makefile defines objs.
SOAK_ASAN_OBJS := $(patsubst c/src/%.c,$(BUILD)/asan/obj/%.o,$(LIB_SRCS))
SOAK_TSAN_OBJS := $(patsubst c/src/%.c,$(BUILD)/tsan/obj/%.o,$(LIB_SRCS))
SOAK_CFLAGS = $(CSTD) -Wall -Wextra -Wno-unused-parameter -pthread -Ic/include

$(BUILD)/soak/soak: $(SOAK_SRCS) $(SOAK_HDRS) $(BUILD)/liboffheap.a
	@mkdir -p $(@D)
	$(CC) $(SOAK_CFLAGS) -O2 -g $(SOAK_SRCS) $(BUILD)/liboffheap.a -o $@
$(BUILD)/soak/soak-asan: $(SOAK_SRCS) $(SOAK_HDRS) $(SOAK_ASAN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(SOAK_CFLAGS) $(SAN_asan) $(SOAK_SRCS) $(SOAK_ASAN_OBJS) -o $@
$(BUILD)/soak/soak-tsan: $(SOAK_SRCS) $(SOAK_HDRS) $(SOAK_TSAN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(SOAK_CFLAGS) $(SAN_tsan) $(SOAK_SRCS) $(SOAK_TSAN_OBJS) -o $@

soak: $(BUILD)/soak/soak ## 8 threads x SOAK_OPS operations on the C core, then through the Go API
	$< -t 8 -n $(SOAK_OPS)
	set -o pipefail; $< -t 8 -n $$(( $(SOAK_OPS) / 4 )) -s 2 -f | tail -1
	$(GO_ENV) OFFHEAP_SOAK_OPS=$(SOAK_OPS) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 2h ./go/offheap

# -f: a thread flips debug level, purge delay and decommit advice meanwhile.
# Each run's output goes to build/soak/*.log, printed whole if it fails.
SOAK_RUN = run() { log=$$1; shift; "$$@" > $$log 2>&1 || { cat $$log; exit 1; }; \
  ! grep -E $(SAN_REPORTS) $$log || exit 1; tail -1 $$log; }; run
SOAK_TSAN = env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(BUILD)/soak/soak-tsan -t 8 -n 50000 -f

soak-tsan: $(BUILD)/soak/soak-tsan ## the TSan soak SOAK_TSAN_RUNS times (default 20): races that one run may miss
	@for i in $$(seq 1 $(SOAK_TSAN_RUNS)); do \
	  printf 'soak-tsan %s/%s: ' $$i $(SOAK_TSAN_RUNS); $(SOAK_RUN) $(BUILD)/soak/tsan-$$i.log $(SOAK_TSAN) || exit 1; \
	done
test-soak-short: $(BUILD)/soak/soak $(BUILD)/soak/soak-asan $(BUILD)/soak/soak-tsan ## the C soak, short: -O2, ASan+UBSan and TSan builds (make test)
	@$(SOAK_RUN) $(BUILD)/soak/rel.log $(BUILD)/soak/soak -t 8 -n 200000
	@$(SOAK_RUN) $(BUILD)/soak/flip.log $(BUILD)/soak/soak -t 8 -n 200000 -s 2 -f
	@$(SOAK_RUN) $(BUILD)/soak/asan.log env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(BUILD)/soak/soak-asan -t 8 -n 100000 -f
	@$(SOAK_RUN) $(BUILD)/soak/tsan.log $(SOAK_TSAN)
	@$(SOAK_RUN) $(BUILD)/soak/tsan-classes.log env OFFHEAP_PAGE_RUNS=0 $(SOAK_TSAN) # size classes for the run range (OFFHEAP_PAGE_RUNS=0)

# ---- go test -asan -----------------------------------------------------------------

# The Go code is instrumented by the compiler, the core by cgo's C compiler
# with -fsanitize=address (go adds it); LeakSanitizer runs at exit. The
# packaging tests that build in a subprocess (GO_BUILD_TESTS, in the Makefile)
# run in the plain go test only: their builds are not instrumented.
test-go-asan: ## go test -asan of go/offheap and bindings (make test)
	$(GO_ENV) $(GO) test -count=1 -asan -skip '$(GO_BUILD_TESTS)' ./go/... ./bindings

TEST_EXTRA += test-fuzz-short test-soak-short test-go-asan
TEST_BUILD += $(FUZZ_BIN) $(BUILD)/soak/soak $(BUILD)/soak/soak-asan $(BUILD)/soak/soak-tsan
