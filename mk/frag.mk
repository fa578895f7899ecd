# mk/frag.mk - the fragmentation benchmark (bench/frag, issue 10): resident
# memory against live bytes when the free order fragments the heap; offheap
# against Go's make (with and without GOMEMLIMIT), and in C against glibc,
# jemalloc and mimalloc.
#
#   make bench-frag                  every workload and mode at -live 1GiB (~3 min on 2 cores),
#                                    tables on stdout, build/frag.json
#   make bench-frag FRAG_LIVE=256MiB FRAG_ARGS="-workloads phase -modes native,offheap,c-glibc"
#   make bench-frag-c                only the C harness binaries (build/bench/cfrag-*)
#   make test-frag                   a tiny end-to-end run of every mode (part of make test)
#   make bench-churn                 a busy C worker's operation latency while the purge policy
#                                    runs (cfrag-X -workload churn, each allocator; CHURN_ARGS)
#   make bench-scavenge              the time to hand scattered free memory back at once
#                                    (cfrag-X -workload scavenge, each allocator; SCAVENGE_ARGS)
#
# The C harness is one source built once per allocator, as for bench/burst:
# cfrag-glibc (nothing else linked), cfrag-jemalloc (-ljemalloc),
# cfrag-mimalloc (-lmimalloc), cfrag-offheap (build/liboffheap.a).

FRAG_C_SRC := bench/frag/cfrag/cfrag.c bench/frag/cfrag/cache.c
FRAG_CBINS := $(addprefix $(BUILD)/bench/cfrag-,glibc jemalloc mimalloc offheap)
FRAG_CFLAGS = $(CSTD) -Wall -Wextra -O2 -g -pthread -Ic/include -Ibench/internal/charness
FRAG_LIVE ?= 1GiB
FRAG_ARGS ?=

.PHONY: bench-frag bench-frag-c bench-churn bench-scavenge test-frag FORCE_FRAG

# One pattern rule for the four: -DCH_<ALLOCATOR> picks the allocator in
# bench/internal/charness/charness.h, CH_LIBS_<allocator> links it.
$(BUILD)/bench/cfrag-offheap: $(BUILD)/liboffheap.a
$(BUILD)/bench/cfrag-jemalloc $(BUILD)/bench/cfrag-mimalloc: | deps-bench
$(BUILD)/bench/cfrag-%: $(FRAG_C_SRC) bench/frag/cfrag/cfrag.h bench/internal/charness/charness.h
	@mkdir -p $(@D)
	$(CC) $(FRAG_CFLAGS) -DCH_$(shell echo $* | tr a-z A-Z) $(FRAG_C_SRC) $(CH_LIBS_$*) -ldl -lm -o $@

bench-frag-c: $(FRAG_CBINS) ## the frag C harness binaries (build/bench/cfrag-*)

# Rebuilt every time (go build caches); GO_ENV passes the C sources' hash so
# that an edit under c/ reaches the cgo build.
$(BUILD)/bench/frag: FORCE_FRAG
	@mkdir -p $(@D)
	cd bench && $(GO_ENV) $(GO) build -o ../$@ ./frag
FORCE_FRAG:

bench-frag: $(FRAG_CBINS) $(BUILD)/bench/frag ## resident memory against live bytes under fragmenting frees (FRAG_LIVE, FRAG_ARGS)
	$(BUILD)/bench/frag -live $(FRAG_LIVE) -json $(BUILD)/frag.json $(FRAG_ARGS)

# The churn workload runs directly (frag does not run it): 1 GiB of 64 B
# buffers replaced at random for 4 s, per allocator; a line each on stderr,
# JSON in build/churn-X.json.
CHURN_ARGS ?= -live 1073741824 -size 64 -secs 4
bench-churn: $(FRAG_CBINS) ## a busy C worker's op latency under the purge policy, against the peers (CHURN_ARGS)
	for a in offheap jemalloc mimalloc glibc; do \
	  $(BUILD)/bench/cfrag-$$a -workload churn -mode c-$$a $(CHURN_ARGS) > $(BUILD)/churn-$$a.json || exit 1; done

# The scavenge workload runs directly too: 1 GiB of 16 KiB buffers, a random
# 75 % freed, then each allocator's scavenge timed; a line each on stderr,
# JSON in build/scavenge-X.json.
SCAVENGE_ARGS ?= -live 1073741824 -size 16384 -drop 75
bench-scavenge: $(FRAG_CBINS) ## the time each allocator takes to hand scattered free memory back (SCAVENGE_ARGS)
	for a in offheap jemalloc mimalloc glibc; do \
	  $(BUILD)/bench/cfrag-$$a -workload scavenge -mode c-$$a $(SCAVENGE_ARGS) > $(BUILD)/scavenge-$$a.json || exit 1; done

# Every mode and workload at 16 MiB with a 50 ms purge delay: the harnesses
# link and run and every buffer checks out (~10 s). Exit status only: the
# figures of so small a run say little.
test-frag: $(FRAG_CBINS) $(BUILD)/bench/frag ## a tiny end-to-end run of every frag workload and mode (make test)
	$(BUILD)/bench/frag -live 16MiB -pool 4MiB -purge-delay 50ms -cache-ops 20000 > $(BUILD)/test-frag.txt \
	  || { cat $(BUILD)/test-frag.txt; exit 1; }
	for a in offheap jemalloc mimalloc glibc; do \
	  $(BUILD)/bench/cfrag-$$a -workload churn -mode c-$$a -live 4194304 -size 64 -drop 50 -secs 0 > /dev/null || exit 1; \
	  $(BUILD)/bench/cfrag-$$a -workload scavenge -mode c-$$a -live 4194304 -size 16384 2> /dev/null > /dev/null || exit 1; done
	@echo "test-frag: every mode ran (tables in $(BUILD)/test-frag.txt)"

TEST_EXTRA += test-frag
TEST_BUILD += $(FRAG_CBINS)
