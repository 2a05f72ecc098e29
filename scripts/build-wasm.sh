#!/usr/bin/env bash
# Builds the fused attention kernel (src/kernels/wasm/attention.c) with
# Debian's clang and lld for wasm32 + SIMD128, no libc, in two variants:
#   attention.wasm     plain memory (one thread; browsers without isolation)
#   attention_mt.wasm  shared memory (worker threads share one memory)
# and writes src/kernels/wasm/module.ts, the two modules as base64, which is
# what the library imports (so no compiler and no locateFile are needed).
# Usage: scripts/build-wasm.sh [outdir [module.ts]]
#   (defaults: build/wasm and src/kernels/wasm/module.ts; check-wasm.sh passes a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-build/wasm}"
MODULE="${2:-src/kernels/wasm/module.ts}"
mkdir -p "$OUT"
CLANG="${CLANG:-clang}"
SRC=src/kernels/wasm/attention.c
COMMON=(--target=wasm32 -O3 -msimd128 -mmutable-globals -nostdlib -ffreestanding
  -fno-builtin -ffile-prefix-map="$PWD"=. -Wall -Wextra -Werror
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__stack_pointer
  -Wl,--stack-first -Wl,-z,stack-size=65536 -Wl,--strip-all)
"$CLANG" "${COMMON[@]}" -o "$OUT/attention.wasm" "$SRC"
"$CLANG" "${COMMON[@]}" -matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=4294967296 \
  -o "$OUT/attention_mt.wasm" "$SRC"
node scripts/build-wasm-module.mjs "$OUT/attention.wasm" "$OUT/attention_mt.wasm" "$MODULE"
