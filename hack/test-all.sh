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
  # The tier's closing count line: deno test's "ok | 36 passed (9 steps) | 0 failed",
  # csi-sanity's "40 Passed | 0 Failed", the e2e runner's "e2e: 8 passed, 0 failed".
  local p f last
  last=$(strip <"$out" | grep -E '[0-9]+ [Pp]assed.*[0-9]+ [Ff]ailed' | tail -1)
  p=$(grep -oE '[0-9]+ [Pp]assed' <<<"$last" | awk '{print $1+0}')
  f=$(grep -oE '[0-9]+ [Ff]ailed' <<<"$last" | awk '{print $1+0}')
  p=${p:-0}
  f=${f:-0}
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
tier helm make -s helm
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
