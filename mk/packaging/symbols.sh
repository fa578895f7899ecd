#!/usr/bin/env bash
# symbols.sh - the exported symbol list of liboffheap (c/offheap.symbols).
#
#   symbols.sh check  LIB HEADER LIST   make test-symbols
#   symbols.sh update LIB HEADER LIST   make update-symbols
#   symbols.sh selftest                 the checker on scratch inputs
#
# LIST holds the names `nm -D --defined-only LIB` prints, sorted, after a line
# "# version X.Y.Z abi N" naming the OH_VERSION and OH_ABI_VERSION of
# offheap.h it was made for. check fails when
#   - LIB exports a name without the oh_ prefix (internals must stay hidden);
#   - LIB's exports, the OH_API declarations of HEADER and LIST differ;
#   - LIST was made for another version than HEADER's;
#   - the list changed against git HEAD, or between any two commits of its
#     history, without a version bump: adding names needs a new version,
#     removing names a new ABI version (the soname).
# update rewrites LIST from LIB, and refuses the same unbumped changes, so
# regenerating the file cannot paper over a missing bump.
set -euo pipefail

mode=$1 lib=${2:-} header=${3:-} list=${4:-}
fail() { echo "test-symbols: $*" >&2; exit 1; }

# read_inputs: version and abi from the header, exported from the library.
read_inputs() {
  macro() { sed -n "s/^#define $1 \([0-9]*\).*/\1/p" "$header"; }
  version="$(macro OH_VERSION_MAJOR).$(macro OH_VERSION_MINOR).$(macro OH_VERSION_PATCH)"
  abi=$(macro OH_ABI_VERSION)
  [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ && $abi =~ ^[0-9]+$ ]] || fail "cannot read the version macros of $header"
  exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | LC_ALL=C sort -u)
  [[ -n $exported ]] || fail "$lib exports nothing"
  local bad
  bad=$(grep -v '^oh_[a-z0-9_]*$' <<<"$exported" || true)
  [[ -z $bad ]] || fail "$lib exports names without the oh_ prefix (internals must be hidden):"$'\n'"$bad"
}

# list_names FILE / list_version FILE: the names and the "X.Y.Z N" line of a list.
list_names() { grep -v '^#' "$1" | grep -v '^$' || true; }
list_version() { sed -n 's/^# version \([0-9.]*\) abi \([0-9]*\)$/\1 \2/p' "$1"; }

# bump_ok OLDNAMES NEWNAMES "OLDVER OLDABI" "NEWVER NEWABI" WHAT: whether a
# change of the list from OLD to NEW came with the bump it needs.
bump_ok() {
  local removed added
  removed=$(comm -23 <(echo "$1") <(echo "$2"))
  added=$(comm -13 <(echo "$1") <(echo "$2"))
  [[ -z $removed && -z $added ]] && return 0
  read -r ov oa <<<"$3"
  read -r nv na <<<"$4"
  if [[ -n $removed && $oa == "$na" ]]; then
    fail "$5: symbols removed without an OH_ABI_VERSION bump (still $na):"$'\n'"$removed"
  fi
  if [[ $ov == "$nv" && $oa == "$na" ]]; then
    fail "$5: symbols added without an OH_VERSION bump (still $nv):"$'\n'"$added"
  fi
}

case $mode in
check)
  read_inputs
  [[ -f $list ]] || fail "$list is missing: make update-symbols"
  names=$(list_names "$list")
  [[ $names == "$(LC_ALL=C sort -u <<<"$names")" ]] || fail "$list is not sorted and unique"
  if [[ $exported != "$names" ]]; then
    fail "the exported symbols of $lib differ from $list (< list, > library):
$(diff <(echo "$names") <(echo "$exported") | grep '^[<>]')
Bump OH_VERSION (names added) or OH_ABI_VERSION (names removed) in $header, then make update-symbols."
  fi
  declared=$(grep -o '^OH_API [^(]*(' "$header" | sed 's/($//; s/.*[ *]//' | LC_ALL=C sort -u)
  if [[ $declared != "$names" ]]; then
    fail "the OH_API declarations of $header differ from $list (< list, > header):
$(diff <(echo "$names") <(echo "$declared") | grep '^[<>]')"
  fi
  [[ $(list_version "$list") == "$version $abi" ]] ||
    fail "$list was made for version '$(list_version "$list")' but $header says '$version $abi': make update-symbols"
  # Against git: the working tree against HEAD, and each commit of the list's
  # history against the one before it.
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    prev=""
    for c in $(git log --reverse --format=%H -- "$list") WORKTREE; do
      if [[ $c == WORKTREE ]]; then cp "$list" "$tmp/cur"; else git show "$c:$list" >"$tmp/cur" 2>/dev/null || continue; fi
      if [[ -n $prev ]]; then
        bump_ok "$(list_names "$tmp/prev")" "$(list_names "$tmp/cur")" "$(list_version "$tmp/prev")" \
          "$(list_version "$tmp/cur")" "$list at ${c:0:12} (against ${prev:0:12})"
      fi
      mv "$tmp/cur" "$tmp/prev"
      prev=$c
    done
  fi
  echo "test-symbols: $(wc -l <<<"$names") exported symbols, all oh_, match $list (version $version, ABI $abi)"
  ;;
update)
  read_inputs
  if [[ -f $list ]]; then
    bump_ok "$(list_names "$list")" "$exported" "$(list_version "$list")" "$version $abi" "make update-symbols"
  fi
  {
    echo "# c/offheap.symbols - the dynamic symbols liboffheap.so exports, one per line."
    echo "# Checked by make test-symbols (mk/packaging/symbols.sh); written by make update-symbols."
    echo "# Adding a name needs a new OH_VERSION; removing or changing one a new OH_ABI_VERSION."
    echo "# version $version abi $abi"
    echo "$exported"
  } >"$list"
  echo "update-symbols: wrote $list ($(wc -l <<<"$exported") symbols, version $version, ABI $abi)"
  ;;
selftest)
  # The checker itself, on a scratch library, header and git repository: each
  # case must pass or fail as stated, so a check that cannot fail is caught.
  cc=${CC:-cc}
  t=$(mktemp -d)
  trap 'rm -rf "$t"' EXIT
  self=$(realpath "$0")
  mkhdr() { # mkhdr MINOR ABI NAMES...
    local minor=$1 a=$2
    shift 2
    {
      printf '#define OH_VERSION_MAJOR 0\n#define OH_VERSION_MINOR %s\n#define OH_VERSION_PATCH 0\n' "$minor"
      printf '#define OH_ABI_VERSION %s\n#define OH_API __attribute__((visibility("default")))\n' "$a"
      for n in "$@"; do printf 'OH_API int %s(void);\n' "$n"; done
    } >"$t/h.h"
  }
  mklib() { # mklib NAMES...: oh_ names exported, others as given
    : >"$t/l.c"
    for n in "$@"; do printf '__attribute__((visibility("default"))) int %s(void) { return 0; }\n' "$n" >>"$t/l.c"; done
    printf 'int oh_internal_(void) { return 1; }\n' >>"$t/l.c"
    "$cc" -shared -fPIC -fvisibility=hidden -o "$t/l.so" "$t/l.c"
  }
  expect() { # expect pass|fail WHAT MODE
    local want=$1 what=$2 m=$3 got=pass
    (cd "$t/repo" && "$self" "$m" "$t/l.so" "$t/h.h" sym.list) >"$t/out" 2>&1 || got=fail
    [[ $got == "$want" ]] || { cat "$t/out" >&2; fail "selftest: $what: expected $want, got $got"; }
    cases=$((cases + 1))
  }
  cases=0
  mkdir "$t/repo"
  git -C "$t/repo" init -q
  git -C "$t/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m init
  commit() { git -C "$t/repo" add sym.list && git -C "$t/repo" -c user.name=t -c user.email=t@t commit -q -m "$1"; }
  mkhdr 1 1 oh_a oh_b; mklib oh_a oh_b
  expect pass "update writes a first list" update
  expect pass "the list matches" check
  commit "list 0.1.0"
  mklib oh_a oh_b leaked_internal
  expect fail "a name without the oh_ prefix" check
  mkhdr 1 1 oh_a oh_b oh_c; mklib oh_a oh_b oh_c
  expect fail "an added symbol not in the list" check
  expect fail "update refuses an added symbol without a version bump" update
  cp "$t/repo/sym.list" "$t/saved"
  printf 'oh_c\n' >>"$t/repo/sym.list"
  expect fail "a hand-edited list without a version bump (against HEAD)" check
  mkhdr 2 1 oh_a oh_b oh_c
  expect pass "update after a version bump" update
  expect pass "an added symbol with a version bump" check
  commit "list 0.2.0"
  mkhdr 2 1 oh_a oh_c; mklib oh_a oh_c
  expect fail "update refuses a removed symbol without an ABI bump" update
  mkhdr 3 1 oh_a oh_c
  expect fail "update refuses a removed symbol with only a version bump" update
  mkhdr 3 2 oh_a oh_c
  expect pass "update after an ABI bump" update
  expect pass "a removed symbol with an ABI bump" check
  commit "list 0.3.0"
  mkhdr 3 2 oh_a oh_c oh_d
  expect fail "an OH_API declaration that is not exported" check
  mkhdr 4 2 oh_a oh_c
  expect fail "a list made for another version" check
  # A committed change without a bump is caught in the history.
  mkhdr 3 2 oh_a oh_c oh_e; mklib oh_a oh_c oh_e
  grep -v '^oh_' "$t/repo/sym.list" >"$t/l2"; printf 'oh_a\noh_c\noh_e\n' >>"$t/l2"; mv "$t/l2" "$t/repo/sym.list"
  commit "unbumped"
  expect fail "a committed change without a bump (history)" check
  echo "test-symbols: selftest of the checker passed ($cases cases)"
  ;;
*) fail "unknown mode $mode" ;;
esac
