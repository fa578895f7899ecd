# mk/clients.mk - real clients on offheap: VictoriaMetrics/fastcache (its 64 KiB
# chunks from offheap.Alloc) and dgraph-io/ristretto's z package (Calloc and
# Free on offheap under its jemalloc tag), at pinned versions from the module
# proxy, running their own test suites, plus a check that a Reset fastcache
# gives its memory back to the OS. The allocator files are recipes in
# tests/clients/testdata/ (README.md, "Real clients"); nothing of the clients is copied
# into this repository.
#
#   make test-clients                           both suites (~30 s; part of make test)
#   make test-clients CLIENTS_ARGS=-race        with flags for go test
#   make test-clients FASTCACHE_VERSION=v1.13.2 RISTRETTO_VERSION=v2.4.2

CLIENTS_ARGS ?=

.PHONY: test-clients

test-clients: ## fastcache and ristretto's z run their own test suites on offheap (make test)
	$(GO_ENV) GO=$(GO) $(if $(FASTCACHE_VERSION),FASTCACHE_VERSION=$(FASTCACHE_VERSION)) \
		$(if $(RISTRETTO_VERSION),RISTRETTO_VERSION=$(RISTRETTO_VERSION)) \
		tests/clients/run.sh $(CLIENTS_ARGS) </dev/null

TEST_EXTRA += test-clients
