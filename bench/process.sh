#!/usr/bin/env bash
# Benchmarks `turnstile process` on generated partitions against DuckDB
# alone pairing the same partition in one SQL pass (bench/sqlbaseline).
#
#   bench/process.sh                 # 250k, 1M and 4M messages
#   bench/process.sh 100000 500000   # other sizes (messages)
#
# For each size it generates a partition into its own DuckDB file, runs
# `turnstile process` under /usr/bin/time -v, then the SQL baseline, and
# prints a Markdown table: wall time, messages/s, peak RSS, and the ratio of
# process time to baseline time. Work files go to $BENCH_DIR (default: a
# temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(250000 1000000 4000000)
part=2026-01-23
mean=$(sed -n 's/^[[:space:]]*MeanMessages *= *\([0-9.]*\).*/\1/p' internal/synth/synth.go)
[ -n "$mean" ] || { echo "cannot read synth.MeanMessages" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

echo "building..." >&2
go build -o "$work/turnstile" ./cmd/turnstile
go build -o "$work/sqlbaseline" ./bench/sqlbaseline

# field NAME FILE: a value from /usr/bin/time -v output.
field() { grep -F "$1" "$2" | sed 's/.*: //'; }
# seconds "h:mm:ss" or "m:ss.cc" -> seconds
seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$1"; }

printf '| messages | conversations | turns | process s | msgs/s | peak RSS MiB | SQL baseline s | process / baseline |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for msgs in "${sizes[@]}"; do
  convs=$(awk -v m="$msgs" -v mean="$mean" 'BEGIN { printf "%d", m / mean + 0.5 }')
  db="$work/bench-$msgs.duckdb"
  rm -f "$db" "$db.wal"
  export TURNSTILE_DUCKDB_PATH="$db" TURNSTILE_LOG_LEVEL=warn
  echo "generating $convs conversations (~$msgs messages)..." >&2
  "$work/turnstile" generate --partition "$part" --conversations "$convs" --seed 1 >"$work/gen.json"

  echo "process..." >&2
  /usr/bin/time -v "$work/turnstile" process --partition "$part" --run-id bench >"$work/summary.json" 2>"$work/time.txt"
  wall=$(seconds "$(field 'Elapsed (wall clock)' "$work/time.txt")")
  rss=$(field 'Maximum resident set size' "$work/time.txt")
  read_msgs=$(sed -n 's/.*"messages_read": \([0-9]*\).*/\1/p' "$work/summary.json")
  turns=$(sed -n 's/.*"turns_created": \([0-9]*\).*/\1/p' "$work/summary.json")

  echo "SQL baseline..." >&2
  base_ms=$("$work/sqlbaseline" --db "$db" --partition "$part" | sed -n 's/.*"duration_ms":\([0-9]*\).*/\1/p')
  base=$(awk -v ms="$base_ms" 'BEGIN { printf "%.2f", ms / 1000 }')

  awk -v m="$read_msgs" -v c="$convs" -v t="$turns" -v w="$wall" -v r="$rss" -v b="$base" 'BEGIN {
    printf "| %d | %d | %d | %.2f | %.0f | %.0f | %.2f | %.2f |\n", m, c, t, w, m / w, r / 1024, b, w / b }'
done
