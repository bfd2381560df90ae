#!/usr/bin/env bash
# make demo: installs what it needs (cached), then runs the demo until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/hack/install-tools.sh" all)
exec "$bin/deno" run --quiet -A "$root/hack/demo.ts"
