# mk/packaging.mk - packaging and portability checks (issue 7).
#
#   make test-install       install into a temporary PREFIX, and with DESTDIR:
#                           files, symlinks, soname, offheap.pc; uninstall
#                           leaves no file behind
#   make test-symbols       liboffheap.so exports exactly c/offheap.symbols, all
#                           oh_, and the list never changes without a version
#                           bump (mk/packaging/symbols.sh; make update-symbols
#                           rewrites the list)
#   make test-examples      examples/c built only from an installed prefix through
#                           pkg-config (shared and static) and examples/go with
#                           -tags offheap_shared against it; both run
#   make test-nocgo         CGO_ENABLED=0: go/decommit builds and vets for every
#                           OS; go/offheap fails with one error naming cgo
#   make test-modzip        the module zip as a proxy serves it: a user module
#                           downloads it through GOPROXY=file://, builds (cgo
#                           from the read-only module cache) and runs
#   make test-unix-defines  os_unix.c compiled as macOS and the BSDs would, each
#                           checked for the madvise advice it gives
#   make test-layers        the C core's files call only the layers above
#                           them on c/src/internal.h's map, but the calls it
#                           allows (tests/layers.sh, on the objects' symbols)
#   make test-windows       the core cross-compiled with mingw-w64 (static library
#                           and offheap.dll), tests/windows/test_windows*.c, the C
#                           and Go examples and the Go test binaries of go/offheap
#                           and go/decommit for windows/amd64, run under Wine
#
# All but test-windows are short and run as part of `make test` (TEST_EXTRA).
# test-windows installs gcc-mingw-w64 and Wine when missing (as root); if Wine
# cannot be installed or does not run, it builds everything, says loudly that
# nothing ran, and fails only when MUST_RUN_WINDOWS=1.

PKG_CONFIG ?= pkg-config
SYMBOLS := c/offheap.symbols

.PHONY: test-shared-go test-install test-symbols update-symbols test-examples test-nocgo test-modzip \
        test-unix-defines test-windows deps-windows windows-build test-layers

TEST_EXTRA += test-install test-symbols test-layers test-examples test-nocgo test-modzip test-unix-defines

# ---- install -----------------------------------------------------------------

# $(call pkg_fail,message): fail a packaging check with a message.
# The checks run under pipefail: a pipe into grep reads its whole input
# (grep >/dev/null, not grep -q, which exits at the first match and can
# kill the writer with SIGPIPE - a random failure on a loaded machine).
pkg_fail = { echo "$@: $(1)" >&2; exit 1; }

test-install: lib ## install and uninstall into temporary prefixes, with DESTDIR (make test)
	@set -euo pipefail; t=$$(mktemp -d); trap 'rm -rf "$$t"' EXIT; \
	 check_tree() { \
	   local root=$$1 prefix=$$2 lib=$$1$$2/lib; \
	   for f in include/offheap.h lib/liboffheap.a lib/liboffheap.so.$(VERSION) lib/pkgconfig/offheap.pc; do \
	     [ -f "$$root$$prefix/$$f" ] && [ ! -L "$$root$$prefix/$$f" ] || $(call pkg_fail,$$f is not installed as a file under $$root$$prefix); done; \
	   [ "$$(stat -c %a "$$lib/liboffheap.so.$(VERSION)")" = 755 ] || $(call pkg_fail,liboffheap.so.$(VERSION) is not mode 755); \
	   [ "$$(stat -c %a "$$root$$prefix/include/offheap.h")" = 644 ] || $(call pkg_fail,offheap.h is not mode 644); \
	   cmp -s c/include/offheap.h "$$root$$prefix/include/offheap.h" || $(call pkg_fail,the installed offheap.h differs from c/include/offheap.h); \
	   for l in liboffheap.so.$(ABI) liboffheap.so; do \
	     [ "$$(readlink "$$lib/$$l")" = liboffheap.so.$(VERSION) ] || $(call pkg_fail,$$l is not a symlink to liboffheap.so.$(VERSION)); done; \
	   readelf -d "$$lib/liboffheap.so.$(VERSION)" | grep 'SONAME.*\[liboffheap\.so\.$(ABI)\]' >/dev/null || \
	     $(call pkg_fail,the soname of liboffheap.so.$(VERSION) is not liboffheap.so.$(ABI)); \
	   grep -qx "prefix=$$prefix" "$$lib/pkgconfig/offheap.pc" || $(call pkg_fail,offheap.pc does not say prefix=$$prefix); \
	   [ "$$(PKG_CONFIG_PATH=$$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$$root $(PKG_CONFIG) --modversion offheap)" = $(VERSION) ] || \
	     $(call pkg_fail,pkg-config --modversion is not $(VERSION)); \
	   [ "$$(PKG_CONFIG_PATH=$$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$$root $(PKG_CONFIG) --cflags --libs offheap | xargs)" = \
	     "-I$$root$$prefix/include -L$$root$$prefix/lib -loffheap" ] || $(call pkg_fail,pkg-config --cflags --libs says something else); \
	   ar t "$$lib/liboffheap.a" | grep '^central\.o$$' >/dev/null || $(call pkg_fail,liboffheap.a lacks central.o); \
	 }; \
	 left() { find "$$1" \( -type f -o -type l \) | sed "s|^$$1||"; }; \
	 $(MAKE) -s --no-print-directory install PREFIX=$$t/prefix >/dev/null; \
	 check_tree "" $$t/prefix; \
	 $(MAKE) -s --no-print-directory uninstall PREFIX=$$t/prefix; \
	 [ -z "$$(left $$t/prefix)" ] || $(call pkg_fail,uninstall left: $$(left $$t/prefix)); \
	 $(MAKE) -s --no-print-directory install PREFIX=/opt/offheap DESTDIR=$$t/stage >/dev/null; \
	 [ "$$(ls $$t/stage)" = opt ] || $(call pkg_fail,DESTDIR install wrote outside DESTDIR/PREFIX: $$(ls $$t/stage)); \
	 check_tree $$t/stage /opt/offheap; \
	 $(MAKE) -s --no-print-directory uninstall PREFIX=/opt/offheap DESTDIR=$$t/stage; \
	 [ -z "$$(left $$t/stage)" ] || $(call pkg_fail,uninstall with DESTDIR left: $$(left $$t/stage)); \
	 echo "test-install: PREFIX and DESTDIR installs of $(VERSION) (soname liboffheap.so.$(ABI)) checked; uninstall leaves no file"

# ---- exported symbols ----------------------------------------------------------

test-symbols: $(BUILD)/liboffheap.so ## liboffheap.so exports exactly c/offheap.symbols (make test)
	@mk/packaging/symbols.sh check $(BUILD)/liboffheap.so.$(VERSION) c/include/offheap.h $(SYMBOLS)
	@CC=$(CC) mk/packaging/symbols.sh selftest

# ---- the core's layers ------------------------------------------------------------

test-layers: $(call objs,rel) ## the C core's files call only the layers c/src/internal.h puts above them (make test)
	@tests/layers.sh check $(BUILD)/rel/obj c/src/internal.h
	@CC=$(CC) tests/layers.sh selftest

update-symbols: $(BUILD)/liboffheap.so ## rewrite c/offheap.symbols from the built library
	@mk/packaging/symbols.sh update $(BUILD)/liboffheap.so.$(VERSION) c/include/offheap.h $(SYMBOLS)

# ---- examples against an installed library --------------------------------------

# The C example is compiled in a directory of its own with nothing but what
# pkg-config prints, so only the installed header and library can be used.
# The go build cache keys cgo packages on CGO_CFLAGS, not on pkg-config's
# output: naming the prefix there keeps a build against an earlier (deleted)
# prefix from being reused.
test-examples: lib ## the C and Go examples built and run against an installed prefix (make test)
	@set -euo pipefail; t=$$(mktemp -d); trap 'rm -rf "$$t"' EXIT; \
	 $(MAKE) -s --no-print-directory install PREFIX=$$t/prefix >/dev/null; \
	 export PKG_CONFIG_PATH=$$t/prefix/lib/pkgconfig; \
	 needs() { readelf -d "$$1" | grep 'NEEDED.*\[liboffheap\.so\.$(ABI)\]' >/dev/null; }; \
	 from_prefix() { LD_LIBRARY_PATH=$$t/prefix/lib ldd "$$1" | grep "liboffheap\.so\.$(ABI) => $$t/prefix/lib/liboffheap\.so\.$(ABI) " >/dev/null; }; \
	 ran_ok() { grep -q '^example: all steps ok$$' "$$1" || { cat "$$1" >&2; $(call pkg_fail,$$2 did not finish); }; }; \
	 mkdir $$t/c && cp examples/c/example.c $$t/c/; \
	 (cd $$t/c && $(CC) -std=c11 -Wall -Wextra -Werror -O2 example.c $$($(PKG_CONFIG) --cflags --libs offheap) -o example); \
	 needs $$t/c/example || $(call pkg_fail,the C example does not link liboffheap.so.$(ABI)); \
	 from_prefix $$t/c/example || $(call pkg_fail,the C example does not load liboffheap.so.$(ABI) from the prefix); \
	 LD_LIBRARY_PATH=$$t/prefix/lib $$t/c/example >$$t/c/out; ran_ok $$t/c/out "the C example"; \
	 (cd $$t/c && $(CC) -std=c11 -O2 example.c $$($(PKG_CONFIG) --cflags offheap) \
	    $$($(PKG_CONFIG) --variable=libdir offheap)/liboffheap.a $$($(PKG_CONFIG) --static --libs-only-other offheap) -o example-static); \
	 ! needs $$t/c/example-static || $(call pkg_fail,the static C example links the shared library); \
	 $$t/c/example-static >$$t/c/out-static; ran_ok $$t/c/out-static "the static C example"; \
	 CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -I$$t/prefix/include" GOFLAGS= $(GO) build -tags offheap_shared -o $$t/example-go ./examples/go; \
	 needs $$t/example-go && from_prefix $$t/example-go || \
	   $(call pkg_fail,the offheap_shared Go example does not load liboffheap.so.$(ABI) from the prefix); \
	 LD_LIBRARY_PATH=$$t/prefix/lib $$t/example-go >$$t/out-go; ran_ok $$t/out-go "the Go example"; \
	 mkdir -p $$t/abi2/include $$t/abi2/lib; \
	 sed 's/^#define OH_ABI_VERSION $(ABI)$$/#define OH_ABI_VERSION $(shell echo $$(($(ABI) + 1)))/' c/include/offheap.h >$$t/abi2/include/offheap.h; \
	 $(CC) $(CSTD) -O1 -fPIC -fvisibility=hidden -pthread -I$$t/abi2/include -Ic/src -shared \
	   -Wl,-soname,liboffheap.so.$(ABI) $(LIB_SRCS) -o $$t/abi2/lib/liboffheap.so.$(ABI); \
	 if LD_LIBRARY_PATH=$$t/abi2/lib $$t/example-go >$$t/out-abi 2>&1; then $(call pkg_fail,the Go example ran on a library of another ABI); fi; \
	 grep -q 'liboffheap has ABI version $(shell echo $$(($(ABI) + 1))).*needs ABI version $(ABI)' $$t/out-abi || \
	   { cat $$t/out-abi >&2; $(call pkg_fail,the offheap_shared init check did not name the ABI mismatch); }; \
	 if LD_LIBRARY_PATH=$$t/abi2/lib $$t/c/example >/dev/null 2>&1; then $(call pkg_fail,the C example ran on a library of another ABI); fi; \
	 echo "test-examples: C example (pkg-config, shared and static) and Go example (-tags offheap_shared) built from an installed prefix and run; both refuse a library of another ABI"

# ---- the Go packages' own tests against an installed library ----------------------

# go/offheap words some messages from what the core says of an address; with
# an installed library (-tags offheap_shared) it can only ask the public API,
# so its whole test suite runs against one too (the Map message tests once
# failed only there).
test-shared-go: lib ## go/offheap and go/goslab tests with -tags offheap_shared against an installed prefix (make test)
	@set -euo pipefail; t=$$(mktemp -d); trap 'rm -rf "$$t"' EXIT; \
	 $(MAKE) -s --no-print-directory install PREFIX=$$t/prefix >/dev/null; \
	 PKG_CONFIG_PATH=$$t/prefix/lib/pkgconfig LD_LIBRARY_PATH=$$t/prefix/lib CGO_ENABLED=1 \
	   CGO_CFLAGS="-O2 -g -I$$t/prefix/include" GOFLAGS= $(GO) test -count=1 -tags offheap_shared \
	   ./go/offheap/ ./go/goslab/ 2>&1 | grep -v '^offheap: use after free: chunk' ; \
	 echo "test-shared-go: the Go packages' tests passed against liboffheap.so.$(ABI) installed in a prefix"

TEST_EXTRA += test-shared-go

# ---- builds without cgo --------------------------------------------------------

NOCGO_MSG := offheap_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
NOCGO_GOOS := linux windows darwin freebsd netbsd openbsd dragonfly

test-nocgo: ## CGO_ENABLED=0 builds fail or pass as documented, every OS (make test)
	@set -euo pipefail; \
	 for os in $(NOCGO_GOOS); do \
	   CGO_ENABLED=0 GOOS=$$os GOARCH=amd64 $(GO) vet ./go/decommit || $(call pkg_fail,go/decommit does not build for $$os without cgo); done; \
	 for pkg in ./go/offheap ./examples/go; do for os in linux windows; do \
	   if out=$$(CGO_ENABLED=0 GOOS=$$os GOARCH=amd64 $(GO) build -o /dev/null $$pkg 2>&1); then \
	     $(call pkg_fail,$$pkg built for $$os with CGO_ENABLED=0); fi; \
	   errs=$$(grep -v '^#' <<<"$$out" || true); \
	   [ "$$(wc -l <<<"$$errs")" = 1 ] && grep -q 'undefined: $(NOCGO_MSG)$$' <<<"$$errs" || \
	     { echo "$$out" >&2; $(call pkg_fail,$$pkg without cgo ($$os) did not fail with the one message naming cgo); }; \
	 done; done; \
	 echo "test-nocgo: go/decommit builds without cgo for $(NOCGO_GOOS); go/offheap fails with: undefined: $(NOCGO_MSG)"

# ---- module zip ------------------------------------------------------------------
# offheap's own zip is served from a file:// proxy made here; its dependencies
# (github.com/google/pprof) from the local module cache, itself a file proxy.

MODZIP_VERSION := v$(VERSION)

test-modzip: ## a user module builds and runs examples/go from the module zip (make test)
	@set -euo pipefail; t=$$(mktemp -d); \
	 trap 'chmod -R u+w "$$t" 2>/dev/null; rm -rf "$$t"' EXIT; \
	 GOFLAGS= $(GO) run mk/packaging/modzip.go $$t/proxy $(MODZIP_VERSION) >/dev/null; \
	 mkdir $$t/user; \
	 printf 'module example.com/user\n\ngo 1.24\n\nrequire github.com/offheap/offheap $(MODZIP_VERSION)\n' >$$t/user/go.mod; \
	 cp examples/go/main.go $$t/user/main.go; \
	 deps=$$($(GO) env GOMODCACHE)/cache/download; \
	 GOFLAGS= $(GO) mod download; \
	 export GOPROXY=file://$$t/proxy,file://$$deps GOSUMDB=off GONOSUMDB= GOFLAGS=-mod=mod GOWORK=off GOMODCACHE=$$t/modcache CGO_ENABLED=1; \
	 (cd $$t/user && $(GO) mod download github.com/offheap/offheap && $(GO) mod verify >/dev/null && \
	  $(GO) build -o user . && ./user >out) || $(call pkg_fail,the module zip did not download/build/run); \
	 grep -q '^example: all steps ok$$' $$t/user/out || $(call pkg_fail,the program built from the module zip failed); \
	 [ -f $$t/modcache/github.com/offheap/offheap@$(MODZIP_VERSION)/c/src/central.c ] || $(call pkg_fail,the module zip lacks c/src); \
	 [ ! -e $$t/modcache/github.com/offheap/offheap@$(MODZIP_VERSION)/bench ] || $(call pkg_fail,the module zip holds the nested bench module); \
	 echo "test-modzip: a user module built and ran examples/go from the module zip (GOPROXY=file://)"

# ---- the per-OS branches of os_unix.c ------------------------------------------

# name:OH_TEST_OS:flags (~ for a space): OH_TEST_OS 0 Linux, 1 BSD, 2 macOS,
# 3 macOS headers without MADV_FREE_REUSABLE (tests/unix/os_unix_advice.c).
UNIX_VARIANTS := linux:0: freebsd:1:-DOH_AS_FREEBSD netbsd:1:-DOH_AS_NETBSD openbsd:1:-DOH_AS_OPENBSD \
  dragonfly:1:-DOH_AS_DRAGONFLY macos:2:-DOH_AS_APPLE~-DMADV_FREE_REUSABLE=7 macos-old-sdk:3:-DOH_AS_APPLE
UNIX_CFLAGS = $(CSTD) $(WARN) -Werror -O1 -pthread -Ic/include -Ic/src

test-unix-defines: c/src/os_unix.c tests/unix/os_unix_advice.c tests/unix/as_os.h $(LIB_HDRS) ## os_unix.c compiled and checked as each BSD and macOS (make test)
	@set -euo pipefail; d=$(BUILD)/unix-defines; mkdir -p $$d; \
	 for v in $(UNIX_VARIANTS); do \
	   IFS=: read -r name os flags <<<"$$v"; flags=$${flags//\~/ }; \
	   inc=; [ -z "$$flags" ] || inc="-include tests/unix/as_os.h"; \
	   $(CC) $(UNIX_CFLAGS) $$inc $$flags -Dmadvise=ohi_test_madvise -c c/src/os_unix.c -o $$d/os_unix-$$name.o; \
	   $(CC) $(UNIX_CFLAGS) $$flags -DOH_TEST_OS=$$os tests/unix/os_unix_advice.c $$d/os_unix-$$name.o -o $$d/advice-$$name; \
	   $$d/advice-$$name >/dev/null || $(call pkg_fail,os_unix.c compiled as $$name gives the wrong advice); \
	 done; \
	 echo "test-unix-defines: os_unix.c compiled and checked as linux, freebsd, netbsd, openbsd, dragonfly, macos, macos-old-sdk"

# ---- Windows ---------------------------------------------------------------------

MINGW_CC ?= x86_64-w64-mingw32-gcc
MINGW_AR ?= x86_64-w64-mingw32-ar
MINGW_OBJDUMP ?= x86_64-w64-mingw32-objdump
WINE ?= wine
WIN := $(BUILD)/win
WIN_SRCS := $(filter-out c/src/os_unix.c,$(wildcard c/src/*.c))
WIN_CFLAGS := $(CSTD) $(WARN) -O2 -g -pthread -Ic/include
WIN_HASH = $(shell cat $(WIN_SRCS) $(LIB_HDRS) | sha1sum | cut -c1-12)
WIN_GO_ENV = GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=$(MINGW_CC) GOFLAGS= \
  CGO_CFLAGS="-O2 -g -DOH_SRC_HASH=$(WIN_HASH)"
WINE_ENV = WINEPREFIX=$(abspath $(WIN))/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# Go tests excluded under Wine, with the reason: they read the resident set
# from /proc/self/statm, which a Windows program cannot open (under Wine the
# file is opened by wineserver, so it describes wineserver). Empty this once
# go/offheap's rss helper reads GetProcessMemoryInfo on Windows. And one that
# reads the package's source files (a documentation check; the test binary
# runs outside the source tree under Wine, and the check runs on Linux).
WIN_GO_SKIP ?= ^(TestScavengeReturnsMemory|TestBufferPoolIdleDecommit|TestNotAsyncSignalSafeIsDocumented)$$

deps-windows: ## install mingw-w64 and Wine with apt-get when missing (as root)
	@if ! command -v $(MINGW_CC) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing gcc-mingw-w64-x86-64-posix (apt-get)"; \
	    apt-get install -y -qq gcc-mingw-w64-x86-64-posix >/dev/null 2>&1 || \
	    (apt-get update -qq && apt-get install -y -qq gcc-mingw-w64-x86-64-posix >/dev/null); \
	  else echo "$(MINGW_CC) is missing: run as root or apt-get install gcc-mingw-w64"; exit 1; fi; fi
	@if ! command -v $(WINE) >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing wine (apt-get)"; \
	  apt-get install -y -qq --no-install-recommends wine wine64 >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends wine wine64 >/dev/null 2>&1) || \
	  echo "deps-windows: wine could not be installed; the Windows binaries will only be built"; fi

$(WIN)/obj/%.o: c/src/%.c $(LIB_HDRS) | deps-windows
	@mkdir -p $(@D)
	$(MINGW_CC) $(WIN_CFLAGS) -c $< -o $@
$(WIN)/dllobj/%.o: c/src/%.c $(LIB_HDRS) | deps-windows
	@mkdir -p $(@D)
	$(MINGW_CC) $(WIN_CFLAGS) -DOH_SHARED_LIB_BUILD -c $< -o $@

$(WIN)/liboffheap.a: $(patsubst c/src/%.c,$(WIN)/obj/%.o,$(WIN_SRCS))
	@rm -f $@
	$(MINGW_AR) rcs $@ $^
# The DLL carries libgcc and winpthreads inside (-static): it needs only
# Windows' own DLLs. Only OH_API (dllexport) names are exported.
$(WIN)/offheap.dll: $(patsubst c/src/%.c,$(WIN)/dllobj/%.o,$(WIN_SRCS))
	$(MINGW_CC) -shared -static -pthread -o $@ $^ -lpsapi -Wl,--out-implib,$(WIN)/liboffheap.dll.a
# The test program is tests/windows/test_windows*.c (test_windows.c has the overview).
WIN_TEST_SRCS := $(wildcard tests/windows/test_windows*.c)
$(WIN)/test_windows.exe: $(WIN_TEST_SRCS) tests/windows/test_windows.h $(WIN)/liboffheap.a $(LIB_HDRS)
	$(MINGW_CC) $(CSTD) -Wall -Wextra -Werror -O1 -g -pthread -Ic/include -Ic/src $(WIN_TEST_SRCS) $(WIN)/liboffheap.a \
	  -lpsapi -static -o $@
$(WIN)/example.exe: examples/c/example.c $(WIN)/offheap.dll
	$(MINGW_CC) -std=c11 -Wall -Wextra -Werror -O2 -Ic/include $< $(WIN)/liboffheap.dll.a -o $@
$(WIN)/bcryptprimitives.dll: tests/windows/bcryptprimitives.c | deps-windows
	@mkdir -p $(@D)
	$(MINGW_CC) -shared -O2 -o $@ $< -ladvapi32

WIN_BINS := $(WIN)/liboffheap.a $(WIN)/offheap.dll $(WIN)/test_windows.exe $(WIN)/example.exe \
  $(WIN)/bcryptprimitives.dll
windows-build: $(WIN_BINS) ## the Windows library, DLL, tests and examples, cross-compiled
	$(WIN_GO_ENV) $(GO) vet ./go/... ./bindings
	$(WIN_GO_ENV) $(GO) test -c -o $(WIN)/offheap.test.exe ./go/offheap
	$(WIN_GO_ENV) $(GO) test -c -o $(WIN)/decommit.test.exe ./go/decommit
	$(WIN_GO_ENV) $(GO) build -o $(WIN)/example-go.exe ./examples/go
	cp "$$($(MINGW_CC) -print-file-name=libwinpthread-1.dll)" $(WIN)/
	@set -euo pipefail; \
	 dllnames=$$($(MINGW_OBJDUMP) -p $(WIN)/offheap.dll | \
	   sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$$/p' | sed -n 's/^[[:space:]]*\[ *[0-9]*\] //p' | LC_ALL=C sort); \
	 want=$$(grep -v '^#' $(SYMBOLS) | grep -v '^$$'); \
	 [ "$$dllnames" = "$$want" ] || { diff <(echo "$$want") <(echo "$$dllnames") >&2; \
	   $(call pkg_fail,offheap.dll exports differ from $(SYMBOLS) (< list > dll)); }; \
	 imports=$$($(MINGW_OBJDUMP) -p $(WIN)/offheap.dll | sed -n 's/^[[:space:]]*DLL Name: //p' | xargs); \
	 [ -z "$$(tr ' ' '\n' <<<"$$imports" | grep -iv '^\(kernel32\|msvcrt\|advapi32\|api-ms-win-.*\)\.dll$$')" ] || \
	   $(call pkg_fail,offheap.dll needs more than Windows DLLs: $$imports); \
	 echo "windows-build: offheap.dll exports exactly $(SYMBOLS) ($$(wc -l <<<"$$want") names) and imports $$imports"

# Runs a Windows program under Wine from $(WIN): $(call wine_run,program args)
wine_run = (cd $(WIN) && $(WINE_ENV) timeout 900 $(WINE) $(1))

test-windows: windows-build test-unix-defines ## the Windows binaries run under Wine (not part of make test)
	@set -euo pipefail; \
	 if ! command -v $(WINE) >/dev/null || ! $(call wine_run,cmd.exe /c echo wine-runs) 2>/dev/null | grep -q wine-runs; then \
	   echo "test-windows: ***** NOT RUN: Wine is missing or does not run here. The library, offheap.dll,"; \
	   echo "test-windows: ***** test_windows.exe, the examples and the Go test binaries were only BUILT (in $(WIN))."; \
	   [ "$(MUST_RUN_WINDOWS)" != 1 ] || exit 1; exit 0; fi; \
	 sys32=$(WIN)/wineprefix/drive_c/windows/system32; \
	 if [ ! -e $$sys32/bcryptprimitives.dll ]; then \
	   echo "test-windows: this Wine lacks bcryptprimitives.dll (Go >= 1.22 needs ProcessPrng): installing tests/windows/bcryptprimitives.c into its prefix"; \
	   cp $(WIN)/bcryptprimitives.dll $$sys32/; fi; \
	 echo "test-windows: $$($(WINE) --version 2>/dev/null), running under Wine:"; \
	 $(call wine_run,./test_windows.exe) || $(call pkg_fail,test_windows.exe failed under Wine); \
	 $(call wine_run,./example.exe) >$(WIN)/example.out || { cat $(WIN)/example.out; $(call pkg_fail,example.exe (offheap.dll) failed); }; \
	 grep -q '^example: all steps ok' $(WIN)/example.out || $(call pkg_fail,example.exe did not finish); \
	 echo "ok   examples/c against offheap.dll"; \
	 $(call wine_run,./example-go.exe) >$(WIN)/example-go.out || { cat $(WIN)/example-go.out; $(call pkg_fail,example-go.exe failed); }; \
	 grep -q '^example: all steps ok' $(WIN)/example-go.out || $(call pkg_fail,example-go.exe did not finish); \
	 echo "ok   examples/go"; \
	 $(call wine_run,./decommit.test.exe -test.count=1) || $(call pkg_fail,go/decommit tests failed under Wine); \
	 echo "test-windows: go/offheap tests excluded under Wine: '$(WIN_GO_SKIP)' (see WIN_GO_SKIP in mk/packaging.mk)"; \
	 $(call wine_run,./offheap.test.exe -test.count=1 -test.skip '$(WIN_GO_SKIP)') || $(call pkg_fail,go/offheap tests failed under Wine); \
	 echo "test-windows: all Windows binaries ran under Wine and passed"
