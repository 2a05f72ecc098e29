#!/bin/sh
# Regenerates __tests__/fixtures/keras-real-extra/ (see README.md here).
# Defaults are the paths used on the machine that made the committed files.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../../__tests__/fixtures/keras-real-extra}
PY=${PY:-/work/venv-keras/bin/python}
KERAS_SRC=${KERAS_SRC:-/work/src-keras}
HUB_SRC=${HUB_SRC:-/work/src-keras-hub}
TFJS_CONVERTER=${TFJS_CONVERTER:-/work/src-tfjs-converter/tfjs-converter/python}
export HUB_SRC KERAS_COMMIT=${KERAS_COMMIT:-3422977a5e} HUB_COMMIT=${HUB_COMMIT:-71453d08f}
export TFJS_COMMIT=${TFJS_COMMIT:-0fc04d958}
export KERAS_BACKEND=torch CUDA_VISIBLE_DEVICES=""
mkdir -p "$OUT"
what=${1:-all}
if [ "$what" = all ] || [ "$what" = layers ]; then
  PYTHONPATH="$KERAS_SRC:$HERE" "$PY" "$HERE/gen_layers.py" "$OUT"
  PYTHONPATH="$KERAS_SRC:$HERE" "$PY" "$HERE/gen_mask_support.py" "$OUT"
fi
if [ "$what" = all ] || [ "$what" = models ]; then
  PYTHONPATH="$KERAS_SRC:$HERE" "$PY" "$HERE/gen_models.py" "$OUT"
  "$PY" "$HERE/convert_tfjs.py" "$TFJS_CONVERTER" "$OUT"/model_*
fi
