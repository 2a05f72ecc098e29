#!/usr/bin/env bash
# Builds the fused attention kernel (src/kernels/wasm/attention.c) with
# Debian's clang and lld (version 19: relaxed SIMD needs clang >= 16) for
# wasm32, no libc, in four variants:
#   attention.wasm          SIMD128, plain memory (one thread; browsers without isolation)
#   attention_mt.wasm       SIMD128, shared memory (worker threads share one memory)
#   attention_relaxed.wasm     the same two with relaxed SIMD (fused multiply-add),
#   attention_relaxed_mt.wasm  used where the engine validates relaxed SIMD
# and writes src/kernels/wasm/module.ts, the modules as base64, which is what
# the library imports (so no compiler and no locateFile are needed).
# Usage: scripts/build-wasm.sh [outdir [module.ts]]
#   (defaults: build/wasm and src/kernels/wasm/module.ts; check-wasm.sh passes a temp dir)
# Environment: CLANG=/path/to/clang (default clang-19; another version builds
# different bytes, which check-wasm.sh reports as stale).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-build/wasm}"
MODULE="${2:-src/kernels/wasm/module.ts}"
mkdir -p "$OUT"
CLANG="${CLANG:-clang-19}"
SRC=src/kernels/wasm/attention.c
COMMON=(--target=wasm32 -O3 -msimd128 -mmutable-globals -nostdlib -ffreestanding
  -fno-builtin -ffile-prefix-map="$PWD"=. -Wall -Wextra -Werror
  -Wl,--no-entry -Wl,--import-memory -Wl,--export=__stack_pointer
  -Wl,--stack-first -Wl,-z,stack-size=65536 -Wl,--strip-all)
MT=(-matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=4294967296)
RELAXED=(-mrelaxed-simd -DRELAXED_SIMD)
"$CLANG" "${COMMON[@]}" -o "$OUT/attention.wasm" "$SRC"
"$CLANG" "${COMMON[@]}" "${MT[@]}" -o "$OUT/attention_mt.wasm" "$SRC"
"$CLANG" "${COMMON[@]}" "${RELAXED[@]}" -o "$OUT/attention_relaxed.wasm" "$SRC"
"$CLANG" "${COMMON[@]}" "${RELAXED[@]}" "${MT[@]}" -o "$OUT/attention_relaxed_mt.wasm" "$SRC"
node scripts/build-wasm-module.mjs "$OUT" "$MODULE"
