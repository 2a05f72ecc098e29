"""Helpers shared by gen_layers.py and gen_models.py.

Everything written by these scripts comes out of a real Keras run (torch
backend, CPU); nothing is computed by hand.
"""
import json
import math
import os
import sys

import numpy as np

import keras
from keras import ops
from keras.src.backend import get_keras_mask, set_keras_mask

HERE = os.path.dirname(os.path.abspath(__file__))


def env_info():
    import h5py
    import torch

    info = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "torch": torch.__version__,
        "keras_commit": os.environ.get("KERAS_COMMIT", "unknown"),
    }
    try:
        import ml_dtypes

        info["ml_dtypes"] = ml_dtypes.__version__
    except Exception:  # noqa
        pass
    return info


def npy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _clean(v):
    """float -> JSON-safe float (NaN/inf become None, and are reported)."""
    if isinstance(v, list):
        return [_clean(e) for e in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def tl(x):
    a = npy(x)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        print("WARNING: non-finite values in an output; written as null")
    return _clean(a.tolist())


def weights_json(layer_or_model):
    """Weights in `layer.weights` order, same fields as the shared mha.json."""
    return [
        {
            "path": w.path,
            "name": w.name,
            "shape": list(w.shape),
            "dtype": str(w.dtype),
            "value": tl(w),
        }
        for w in layer_or_model.weights
    ]


def set_seeded_weights(layer_or_model, seed, scale=0.5):
    """Replaces every weight with seeded normal values (gamma near 1)."""
    rs = np.random.RandomState(seed)
    vals = []
    for w in layer_or_model.weights:
        shape = tuple(w.shape)
        if w.path.endswith("gamma"):
            v = 1.0 + 0.2 * rs.randn(*shape)
        else:
            v = scale * rs.randn(*shape)
        vals.append(np.asarray(v, dtype=np.float32))
    layer_or_model.set_weights(vals)


def masked(x, m):
    """A fresh tensor carrying a Keras mask (as Embedding(mask_zero) makes)."""
    t = ops.convert_to_tensor(x)
    if m is not None:
        set_keras_mask(t, ops.convert_to_tensor(m))
    return t


def f32_json(obj):
    """JSON text in which every float is written as the SHORTEST decimal that
    rounds back to the same float32 (numpy's float32 repr), e.g. 0.8121727
    instead of 0.8121727108955383. Parsing it and rounding to float32
    (Float32Array, tf.tensor) gives exactly the float32 value Keras had; it
    keeps the files about 40% smaller. Non-finite floats are not allowed."""
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + f32_json(v)
                              for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(f32_json(v) for v in obj) + "]"
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return json.dumps(obj)
    if isinstance(obj, (float, np.floating)):
        if not math.isfinite(float(obj)):
            raise ValueError("non-finite float in golden data")
        r = repr(np.float32(obj))
        assert float(np.float32(r)) == float(np.float32(obj)), r
        return r
    if isinstance(obj, np.integer):
        return str(int(obj))
    if isinstance(obj, np.bool_):
        return json.dumps(bool(obj))
    raise TypeError(f"cannot serialize {type(obj)}")


def dump(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = f32_json(obj)
    json.loads(text)  # valid JSON
    with open(path, "w") as f:
        f.write(text)
    print("wrote", path, os.path.getsize(path), "bytes")
