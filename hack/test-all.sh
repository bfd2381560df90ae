#!/usr/bin/env bash
# `make test`: every tier in order, each tier's output shown as it runs; the last line
# adds up what the tiers report, as "test: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
passed=0
failed=0
broken=()
strip() { sed 's/\x1b\[[0-9;]*m//g'; }

tier() {
  local name=$1
  shift
  printf '\n==== %s\n' "$name"
  local out rc
  out=$(mktemp)
  "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  # deno test: "ok | 36 passed (9 steps) | 0 failed"; csi-sanity: "40 Passed | 0 Failed"
  local p f
  p=$(strip <"$out" | grep -oE '([0-9]+) [Pp]assed' | awk '{s+=$1} END {print s+0}')
  f=$(strip <"$out" | grep -oE '\| ([0-9]+) [Ff]ailed' | awk '{s+=$2} END {print s+0}')
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ]; then
    broken+=("$name")
    [ "$f" -eq 0 ] && failed=$((failed + 1))
  fi
  rm -f "$out"
}

make -s tools >/dev/null || { echo "test: tool installation failed"; exit 1; }
tier static make -s static
tier unit make -s unit
tier integration make -s integration
tier hostile make -s hostile
tier sanity make -s sanity
tier demo make -s demo-test
tier e2e make -s e2e

echo
[ ${#broken[@]} -gt 0 ] && echo "failed tiers: ${broken[*]}"
echo "test: $passed passed, $failed failed"
[ ${#broken[@]} -eq 0 ]
