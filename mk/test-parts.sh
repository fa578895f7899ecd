#!/usr/bin/env bash
# mk/test-parts.sh - runs the parts of `make test` in two lanes and prints the
# wall time of each part at the end (the Makefile says which part runs where,
# and why).
#
#   mk/test-parts.sh DIR "FIRST PARTS" "BESIDE PARTS" "MAIN PARTS"
#
# FIRST parts (the build) run alone, one after another. Then MAIN parts run one after another with their output on the terminal. BESIDE
# parts (those that leave a core idle: one process, or a fixed fuzzing time)
# run meanwhile, one after another, each into DIR/PART.log, printed whole if
# the part fails. After a failure no new part starts; the script waits for
# the running ones, prints the table and exits 1. MAKE names make (the
# Makefile passes $(MAKE)).
set -uo pipefail
dir=$1 first=$2 beside=$3 main=$4
make=${MAKE:-make}
mkdir -p "$dir"
rm -f "$dir"/*.time "$dir"/*.log "$dir"/failed

# since T: seconds from T (an $EPOCHREALTIME) to now, one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# run_part PART [LOG]: runs make PART, writes DIR/PART.time ("seconds status").
run_part() {
  local part=$1 log=${2:-} start rc
  [ -e "$dir/failed" ] && { echo "- skipped" >"$dir/$part.time"; return 1; }
  start=$EPOCHREALTIME
  if [ -n "$log" ]; then
    "$make" --no-print-directory "$part" >"$log" 2>&1
  else
    "$make" --no-print-directory "$part"
  fi
  rc=$?
  echo "$(since "$start") $([ $rc = 0 ] && echo ok || echo FAILED)" >"$dir/$part.time"
  [ $rc = 0 ] || { touch "$dir/failed"; return 1; }
}

t0=$EPOCHREALTIME
for p in $first; do
  run_part "$p" || break
done
(
  for p in $beside; do
    echo "make test: $p runs beside the others (output in $dir/$p.log)"
    run_part "$p" "$dir/$p.log" || { [ -e "$dir/$p.log" ] && { echo "==== $p FAILED:"; cat "$dir/$p.log"; }; break; }
  done
) &
beside_pid=$!
for p in $main; do
  run_part "$p" || break
done
wait $beside_pid
wall=$(since "$t0")

echo
echo "make test: wall time per part (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
for p in $first $main $beside; do
  lane=main
  case " $beside " in *" $p "*) lane=beside ;; esac
  case " $first " in *" $p "*) lane=first ;; esac
  if [ -e "$dir/$p.time" ]; then read -r secs status <"$dir/$p.time"; else secs=- status="not run"; fi
  printf '  %-20s %7s s  %-7s %s\n' "$p" "$secs" "$status" "$lane"
done
printf '  %-20s %7s s\n' "total (wall)" "$wall"
[ ! -e "$dir/failed" ]
