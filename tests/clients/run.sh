#!/usr/bin/env bash
# tests/clients/run.sh - real clients on offheap: VictoriaMetrics/fastcache and
# dgraph-io/ristretto's z package, at pinned versions from the module proxy,
# with the allocator files of this directory swapped in by `go test -overlay`
# (nothing of theirs is copied here), running their own test suites.
#
#   tests/clients/run.sh [go test flags...]     e.g. -race
#
# Run by `make test-clients` (mk/clients.mk). Needs the module proxy (or a
# module cache that holds the pinned versions); no stdin, no prompts.
set -euo pipefail

FASTCACHE_VERSION=${FASTCACHE_VERSION:-v1.13.2}
RISTRETTO_VERSION=${RISTRETTO_VERSION:-v2.4.2}
GO=${GO:-go}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipes=$here/testdata # Go files: testdata keeps them out of this module's build
root=$(cd "$here/../.." && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/offheap-clients.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# A throwaway module that sees this checkout as github.com/offheap/offheap.
cat > go.mod <<MOD
module offheap-clients

go 1.24

require github.com/offheap/offheap v0.0.0

replace github.com/offheap/offheap => $root
MOD
cat > clients.go <<'SRC'
// Package clients keeps the clients in this throwaway module's build list.
package clients

import (
	_ "github.com/VictoriaMetrics/fastcache"
	_ "github.com/dgraph-io/ristretto/v2/z"
	_ "github.com/offheap/offheap/go/offheap"
)
SRC
export GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local
"$GO" get -t "github.com/VictoriaMetrics/fastcache@$FASTCACHE_VERSION" \
	"github.com/dgraph-io/ristretto/v2/z@$RISTRETTO_VERSION" </dev/null
"$GO" mod tidy </dev/null

# The go command refuses overlays of files in the module cache: the clients
# are built from read-only copies in the throwaway module instead (replace).
copy_module() { # module path, directory name
	local src
	src=$("$GO" list -m -f '{{.Dir}}' "$1")
	cp -R "$src" "$work/$2"
	chmod -R u+w "$work/$2"
	"$GO" mod edit -replace "$1=./$2"
}
copy_module github.com/VictoriaMetrics/fastcache fastcache
copy_module github.com/dgraph-io/ristretto/v2 ristretto
"$GO" mod tidy </dev/null
fastcache=$work/fastcache
ristretto=$work/ristretto

# fastcache: getChunk/putChunk on offheap.Alloc/Free, plus the Reset test.
cat > fastcache.json <<JSON
{"Replace": {
  "$fastcache/malloc_mmap.go": "$recipes/fastcache_offheap.go",
  "$fastcache/offheap_reset_test.go": "$recipes/fastcache_reset_test.go"
}}
JSON
# z: Calloc/CallocNoRef/Free/Leaks/ReadMemStats on offheap under -tags jemalloc.
cat > z.json <<JSON
{"Replace": {"$ristretto/z/calloc_jemalloc.go": "$recipes/ristretto_z_offheap.go"}}
JSON

echo "== fastcache $FASTCACHE_VERSION on offheap"
"$GO" test -count=1 "$@" -overlay "$work/fastcache.json" github.com/VictoriaMetrics/fastcache </dev/null
echo "== ristretto/v2/z $RISTRETTO_VERSION on offheap (-tags jemalloc)"
"$GO" test -count=1 "$@" -tags jemalloc -overlay "$work/z.json" github.com/dgraph-io/ristretto/v2/z </dev/null
