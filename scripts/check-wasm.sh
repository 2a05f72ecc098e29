#!/usr/bin/env bash
# CI check: rebuilds the kernel from src/kernels/wasm/attention.c into a temp
# dir and fails if the committed src/kernels/wasm/module.ts differs from it.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
scripts/build-wasm.sh "$TMP" "$TMP/module.ts" >/dev/null
if ! cmp -s "$TMP/module.ts" src/kernels/wasm/module.ts; then
  echo "check-wasm: src/kernels/wasm/module.ts is stale or was built differently; run npm run build:wasm and commit it." >&2
  diff <(head -c 600 src/kernels/wasm/module.ts) <(head -c 600 "$TMP/module.ts") >&2 || true
  exit 1
fi
echo "check-wasm: src/kernels/wasm/module.ts matches attention.c ($("${CLANG:-clang-19}" --version | head -1))"
