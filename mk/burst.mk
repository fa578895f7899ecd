# mk/burst.mk - the bursty benchmark (bench/burst): memory back to the OS when
# demand falls, offheap against Go's scavenger, glibc, jemalloc and mimalloc.
#
#   make bench-burst                 every mode, 1 GiB bursts of 16 KiB buffers, ~1.5 min,
#                                    table on stdout, build/burst.json, build/burst.svg
#   make bench-burst BURST_ARGS='-peak 2GiB -runs 3 -purge-delay 100ms'
#   make bench-burst-c               only the C harness binaries (build/bench/cburst-*)
#   make test-burst                  a tiny end-to-end run of every mode (part of make test)
#
# The C harness is one source built once per allocator, so that no allocator
# replaces another's malloc: cburst-glibc (nothing else linked), cburst-jemalloc
# (-ljemalloc), cburst-mimalloc (-lmimalloc), cburst-offheap (build/liboffheap.a).

BURST_C_SRC := bench/burst/cburst/cburst.c
BURST_CBINS := $(addprefix $(BUILD)/bench/cburst-,glibc jemalloc mimalloc offheap)
BURST_CFLAGS = $(CSTD) -Wall -Wextra -O2 -g -pthread -Ic/include -Ibench/internal/charness
BURST_ARGS ?=
# What each C harness binary links (cburst-*, cfrag-*).
CH_LIBS_glibc :=
CH_LIBS_jemalloc := -ljemalloc
CH_LIBS_mimalloc := -lmimalloc
CH_LIBS_offheap = $(BUILD)/liboffheap.a

.PHONY: bench-burst bench-burst-c test-burst

# One pattern rule for the four: -DCH_<ALLOCATOR> picks the allocator in
# bench/internal/charness/charness.h, CH_LIBS_<allocator> links it.
$(BUILD)/bench/cburst-offheap: $(BUILD)/liboffheap.a
$(BUILD)/bench/cburst-jemalloc $(BUILD)/bench/cburst-mimalloc: | deps-bench
$(BUILD)/bench/cburst-%: $(BURST_C_SRC) bench/internal/charness/charness.h
	@mkdir -p $(@D)
	$(CC) $(BURST_CFLAGS) -DCH_$(shell echo $* | tr a-z A-Z) $< $(CH_LIBS_$*) -ldl -o $@

bench-burst-c: $(BURST_CBINS) ## the burst C harness binaries (build/bench/cburst-*)

# The Go command is rebuilt every time (go build caches); GO_ENV passes the C
# sources' hash so that an edit under c/ reaches the cgo build.
$(BUILD)/bench/burst: FORCE_BURST
	@mkdir -p $(@D)
	cd bench && $(GO_ENV) $(GO) build -o ../$@ ./burst
.PHONY: FORCE_BURST
FORCE_BURST:

bench-burst: $(BURST_CBINS) $(BUILD)/bench/burst ## memory back to the OS after a burst, every mode (BURST_ARGS)
	$(BUILD)/bench/burst -peak 1GiB -json $(BUILD)/burst.json -chart $(BUILD)/burst.svg $(BURST_ARGS)

# Every mode, 64 MiB bursts, short idle windows: the harnesses link and run,
# the protocol and the analysis hold (~10 s). Exit status only: the figures of
# so small a burst say little.
test-burst: $(BURST_CBINS) $(BUILD)/bench/burst ## a tiny end-to-end run of every burst mode (make test)
	$(BUILD)/bench/burst -peak 64MiB -idle 300ms -pre 100ms -purge-delay 50ms > $(BUILD)/test-burst.txt \
	  || { cat $(BUILD)/test-burst.txt; exit 1; }
	@echo "test-burst: every mode ran (table in $(BUILD)/test-burst.txt)"

TEST_EXTRA += test-burst
TEST_BUILD += $(BURST_CBINS)
