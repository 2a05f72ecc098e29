"""mask_support.json: what Keras 3 does with a Keras mask, measured per layer.

usage: gen_mask_support.py <out dir>

For each layer: call it eagerly on a float tensor [2, 6, 4] (ints for
Embedding) once WITH a Keras mask attached (set_keras_mask; row 0 has its
last 2 steps masked) and once without, same weights. Records
  supports_masking        layer.supports_masking
  call_has_mask_arg       'mask' is a parameter of layer.call
  uses_mask               outputs differ between the two calls (max abs diff)
  output_has_keras_mask   a Keras mask is attached to the output
  output_mask             that mask (if any)
"""
import inspect
import os
import sys
import warnings

import numpy as np

import keras
from keras import layers, ops
from keras.src.backend import get_keras_mask

from common import dump, env_info, masked, npy, tl
from hub_import import import_hub_layers

OUT = sys.argv[1]
keras.utils.set_random_seed(99)
hub = import_hub_layers(os.environ["HUB_SRC"])
rs = np.random.RandomState(5)
x = rs.randn(2, 6, 4).astype(np.float32)
mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
tokens = np.array([[3, 5, 7, 2, 0, 0], [1, 2, 3, 4, 5, 6]], dtype=np.int32)

specs = [
    ("Dense(5)", lambda: layers.Dense(5), "x"),
    ("Dropout(0.5) (inference)", lambda: layers.Dropout(0.5), "x"),
    ("LayerNormalization", lambda: layers.LayerNormalization(), "x"),
    ("BatchNormalization (inference)", lambda: layers.BatchNormalization(),
     "x"),
    ("Activation('relu')", lambda: layers.Activation("relu"), "x"),
    ("Softmax()", lambda: layers.Softmax(), "x"),
    ("Reshape((6, 2, 2))", lambda: layers.Reshape((6, 2, 2)), "x"),
    ("Flatten", lambda: layers.Flatten(), "x"),
    ("GlobalAveragePooling1D", lambda: layers.GlobalAveragePooling1D(), "x"),
    ("GlobalMaxPooling1D", lambda: layers.GlobalMaxPooling1D(), "x"),
    ("AveragePooling1D(2)", lambda: layers.AveragePooling1D(2), "x"),
    ("MaxPooling1D(2)", lambda: layers.MaxPooling1D(2), "x"),
    ("Conv1D(3, 3, padding='same')",
     lambda: layers.Conv1D(3, 3, padding="same"), "x"),
    ("LSTM(3, return_sequences=True)",
     lambda: layers.LSTM(3, return_sequences=True), "x"),
    ("LSTM(3)", lambda: layers.LSTM(3), "x"),
    ("GRU(3, return_sequences=True)",
     lambda: layers.GRU(3, return_sequences=True), "x"),
    ("Bidirectional(LSTM(2, return_sequences=True))",
     lambda: layers.Bidirectional(layers.LSTM(2, return_sequences=True)),
     "x"),
    ("TimeDistributed(Dense(3))",
     lambda: layers.TimeDistributed(layers.Dense(3)), "x"),
    ("Masking(0.0)", lambda: layers.Masking(0.0), "x"),
    ("Embedding(10, 4, mask_zero=True) on tokens",
     lambda: layers.Embedding(10, 4, mask_zero=True), "tokens"),
    ("Add()([x, x])", lambda: layers.Add(), "pair"),
    ("Concatenate()([x, x])", lambda: layers.Concatenate(), "pair"),
    ("Multiply()([x, x])", lambda: layers.Multiply(), "pair"),
    ("Average()([x, x])", lambda: layers.Average(), "pair"),
    ("MultiHeadAttention(2, 2)(x, x)",
     lambda: layers.MultiHeadAttention(2, 2), "self"),
    ("GroupQueryAttention(2, 2, 1)(x, x)",
     lambda: layers.GroupQueryAttention(2, 2, 1), "self"),
    ("Attention()([x, x])", lambda: layers.Attention(), "pair"),
    ("keras_hub TransformerEncoder(8, 2)",
     lambda: hub.TransformerEncoder(8, 2), "x"),
    ("keras_hub TransformerDecoder(8, 2) (no encoder)",
     lambda: hub.TransformerDecoder(8, 2), "x"),
    ("keras_hub TokenAndPositionEmbedding(10, 6, 4, mask_zero=True) on tokens",
     lambda: hub.TokenAndPositionEmbedding(10, 6, 4, mask_zero=True),
     "tokens"),
    ("ops.multiply(x, 2.0) (an op on a masked tensor)",
     None, "op"),
]

rows = []
for name, make, kind in specs:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "op":
            out_m = ops.multiply(masked(x, mask), 2.0)
            out_u = ops.multiply(ops.convert_to_tensor(x), 2.0)
            layer = None
        else:
            layer = make()

            def call(with_mask):
                if kind == "tokens":
                    return layer(ops.convert_to_tensor(tokens))
                t = (lambda: masked(x, mask)) if with_mask else (
                    lambda: ops.convert_to_tensor(x))
                if kind == "x":
                    return layer(t())
                if kind == "pair":
                    return layer([t(), t()])
                if kind == "self":
                    return layer(t(), t())

            out_u = call(False)
            try:
                out_m = call(True)
            except Exception as e:  # noqa
                rows.append({"layer": name,
                             "supports_masking": bool(layer.supports_masking),
                             "error_with_mask": " ".join(
                                 f"{type(e).__name__}: {e}".split())[:400]})
                print(name, "ERROR", rows[-1]["error_with_mask"][:150])
                continue
    om = get_keras_mask(out_m)
    row = {"layer": name}
    if layer is not None:
        row["supports_masking"] = bool(layer.supports_masking)
        row["call_has_mask_arg"] = "mask" in inspect.signature(
            layer.call).parameters
    if kind != "tokens":
        row["uses_mask_max_abs_diff"] = float(
            np.abs(npy(out_m) - npy(out_u)).max())
        row["uses_mask"] = row["uses_mask_max_abs_diff"] > 0
    row["output_has_keras_mask"] = om is not None
    row["output_mask"] = None if om is None else tl(om)
    row["warnings"] = sorted({str(w.message).split(".")[0] for w in caught
                              if "mask" in str(w.message)})
    rows.append(row)
    print(row["layer"], {k: v for k, v in row.items()
                         if k not in ("layer", "output_mask", "warnings")})

dump(os.path.join(OUT, "mask_support.json"), {
    "made_by": "scripts/keras-golden/gen_mask_support.py (real Keras run)",
    "env": dict(env_info(), keras_hub_version=hub.version),
    "input": {"x": tl(x), "keras_mask": tl(mask), "tokens": tl(tokens)},
    "note": "Eager calls. uses_mask: outputs with and without the Keras "
            "mask differ (same layer, same weights). For Embedding/"
            "TokenAndPositionEmbedding the mask is made from the tokens.",
    "layers": rows,
})
