#!/usr/bin/env bash
# layers.sh - the C core's layers as c/src/internal.h says they are.
#
#   layers.sh check OBJDIR [MAP]   make test-layers (OBJDIR: build/rel/obj)
#   layers.sh selftest             the checker on scratch inputs: it must fail
#                                  on a call down the list
#
# MAP (c/src/internal.h) lists the core's files in layers, one line a layer,
# between the lines "-- layers --" and "-- end of layers --"; a file calls
# only files of its own line and of the lines above it. Lines of the form
# "allow CALLER.c -> CALLEE.c SYMBOL ..." in the same comment name the calls
# up the list that are the natural direction. The check reads which global
# symbols each object of OBJDIR defines and which it uses (nm), and fails when
#   - an object uses a symbol defined by a file on a lower line, not allowed;
#   - an allowed call is no longer made (the essay must say what the code does);
#   - a c/src file (or an object) is not on the map, or is on it twice.
# Inline functions of the headers are compiled into their callers and are not
# seen: the check is about the calls between the files.
set -euo pipefail

fail() { echo "test-layers: $*" >&2; exit 1; }

# check OBJDIR MAP SRCDIR
check() {
  local objdir=$1 map=$2 srcdir=$3
  [[ -d $objdir ]] || fail "no object directory $objdir"
  [[ -f $map ]] || fail "no map $map"
  # rank FILE (basename without .c) from the layer lines
  local ranks allowed
  ranks=$(awk '
    /-- end of layers --/ { on = 0 }
    on && /^ \*   [a-z_]+\.c/ {
      line = $0; sub(/^ \*   /, "", line); n++
      while (match(line, /^[a-z_]+\.c(, | \/ )?/)) {
        f = substr(line, 1, RLENGTH); sub(/(, | \/ )$/, "", f); sub(/\.c$/, "", f)
        print f, n; line = substr(line, RLENGTH + 1)
      }
    }
    /-- layers --/ { on = 1 }' "$map")
  [[ -n $ranks ]] || fail "$map has no layer lines between \"-- layers --\" and \"-- end of layers --\""
  local dup
  dup=$(awk '{print $1}' <<<"$ranks" | sort | uniq -d)
  [[ -z $dup ]] || fail "on the map twice: $dup"
  # allowed pairs: "caller callee symbol" a line
  allowed=$(sed -n 's/^ \*   *allow \([a-z_]*\)\.c -> \([a-z_]*\)\.c \(.*\)$/\1 \2 \3/p' "$map" |
    awk '{ for (i = 3; i <= NF && $i ~ /^[A-Za-z_][A-Za-z0-9_]*[,:]?$/; i++) {
             s = $i; sub(/[,:]$/, "", s); print $1, $2, s; if ($i ~ /:$/) break } }')
  local unlisted=""
  for src in "$srcdir"/*.c; do
    local b; b=$(basename "$src" .c)
    grep -q "^$b " <<<"$ranks" || unlisted="$unlisted $b.c"
  done
  for o in "$objdir"/*.o; do
    local b; b=$(basename "$o" .o)
    grep -q "^$b " <<<"$ranks" || unlisted="$unlisted $b.o"
  done
  [[ -z $unlisted ]] || fail "not on the map of $map:$unlisted"
  # defs: "symbol file", uses: "file symbol"
  local defs uses
  defs=$(for o in "$objdir"/*.o; do
    nm -g --defined-only "$o" | awk -v f="$(basename "$o" .o)" 'NF == 3 { print $3, f }'
  done | LC_ALL=C sort -k1,1)
  uses=$(for o in "$objdir"/*.o; do
    nm -u "$o" | awk -v f="$(basename "$o" .o)" '{ print $NF, f }'
  done | LC_ALL=C sort -k1,1)
  # "caller callee symbol" for every use of another object's symbol
  local calls
  calls=$(LC_ALL=C join <(echo "$uses") <(echo "$defs") | awk '$2 != $3 { print $2, $3, $1 }' | LC_ALL=C sort -u)
  [[ -n $calls ]] || fail "no calls between the objects of $objdir (nm found nothing?)"
  local report
  report=$(awk -v ranks="$ranks" -v allowed="$allowed" -v map="$map" '
    BEGIN {
      n = split(ranks, r, "\n"); for (i = 1; i <= n; i++) { split(r[i], kv, " "); rank[kv[1]] = kv[2] }
      n = split(allowed, a, "\n"); for (i = 1; i <= n; i++) if (a[i] != "") { ok[a[i]] = 1; used[a[i]] = 0 }
    }
    {
      key = $1 " " $2 " " $3
      if (key in ok) { used[key] = 1; next }
      if (rank[$2] > rank[$1])
        printf "%s.c uses %s, defined in %s.c, a layer below it on the map (%s): not allowed\n", $1, $3, $2, map
    }
    END {
      for (k in used) if (!used[k]) {
        split(k, p, " ")
        printf "%s allows %s.c -> %s.c %s, but %s.c no longer uses it: take the line out\n", map, p[1], p[2], p[3], p[1]
      }
    }' <<<"$calls")
  [[ -z $report ]] || fail $'\n'"$report"
  echo "test-layers: $(wc -l <<<"$calls") uses between $(ls "$objdir"/*.o | wc -l) objects follow the $(awk '{print $2}' <<<"$ranks" | sort -nu | wc -l) layers of $map ($(grep -c . <<<"$allowed" || true) allowed up the list)"
}

# selftest: top.c (first line) and low.c (second line); low calling top is
# fine, top calling low fails, and allowing it passes; an allowed call not
# made fails; a file off the map fails.
selftest() {
  local t; t=$(mktemp -d); trap 'rm -rf "$t"' RETURN
  local cc=${CC:-cc}
  mkdir -p "$t/src" "$t/obj"
  cat >"$t/map.h" <<'EOF'
/* map
 *   -- layers --
 *   top.c     the top
 *   low.c     below it
 *   -- end of layers --
ALLOW
 */
EOF
  printf 'int top_f(void) { return 1; }\n' >"$t/src/top.c"
  printf 'int top_f(void);\nint low_f(void) { return top_f(); }\n' >"$t/src/low.c"
  build() { for f in "$t"/src/*.c; do "$cc" -c "$f" -o "$t/obj/$(basename "$f" .c).o"; done; }
  with_allow() { sed "s|^ALLOW\$|$1|" "$t/map.h" >"$t/map2.h"; }
  build; with_allow ""
  (check "$t/obj" "$t/map2.h" "$t/src" >/dev/null 2>&1) || fail "selftest: a call up the list was refused"
  printf 'int low_f(void);\nint top_f(void) { return low_f(); }\n' >"$t/src/top.c"
  printf 'int low_f(void) { return 2; }\n' >"$t/src/low.c"
  build
  (check "$t/obj" "$t/map2.h" "$t/src" >/dev/null 2>&1) && fail "selftest: a call down the list (top.c -> low.c) passed"
  with_allow " *   allow top.c -> low.c low_f: the test's reason"
  (check "$t/obj" "$t/map2.h" "$t/src" >/dev/null 2>&1) || fail "selftest: an allowed call down the list was refused"
  with_allow " *   allow top.c -> low.c low_f, low_g: the test's reason"
  (check "$t/obj" "$t/map2.h" "$t/src" >/dev/null 2>&1) && fail "selftest: an allowed call that is not made passed"
  with_allow " *   allow top.c -> low.c low_f: the test's reason"
  printf 'int x_f(void) { return 3; }\n' >"$t/src/x.c"; build
  (check "$t/obj" "$t/map2.h" "$t/src" >/dev/null 2>&1) && fail "selftest: a file off the map passed"
  echo "test-layers: selftest ok (a call down the list, a stale allowance and a file off the map fail)"
}

case ${1:-} in
  check) check "$2" "${3:-c/src/internal.h}" "$(dirname "${3:-c/src/internal.h}")" ;;
  selftest) selftest ;;
  *) fail "usage: layers.sh check OBJDIR [MAP] | layers.sh selftest" ;;
esac
