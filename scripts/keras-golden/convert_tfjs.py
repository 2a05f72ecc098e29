"""Converts the saved models with tensorflowjs_converter's OWN Python code
(github:tensorflow/tfjs, tfjs-converter/python), without TensorFlow.

usage: convert_tfjs.py <tfjs-converter/python dir> <model dir> [...]

For each model dir (holding keras_file/model.keras and h5_file/model.h5):
  tfjs_from_keras/  converter.dispatch_keras_keras_to_tfjs_layers_model_conversion
                    = `tensorflowjs_converter --input_format keras_keras
                       --output_format tfjs_layers_model model.keras out/`
  tfjs_from_h5/     converter.dispatch_keras_h5_to_tfjs_layers_model_conversion
                    = `tensorflowjs_converter --input_format keras
                       --output_format tfjs_layers_model model.h5 out/`
A conversion that raises is recorded (type, message, last frames) in
<model dir>/conversion_errors.json and leaves no partial output directory.

Why stubs: converter.py imports tensorflow.compat.v1/v2, tf_keras, and the
converter modules for the SavedModel/graph paths at top level. The two Keras
paths above only use h5py, numpy, json and write_weights.py, which itself only
needs `tf.io.gfile.GFile` (a file opener; `open` here). So those imports are
satisfied with empty modules, and the tensorflowjs packages are created with
__path__ pointing at the real source so their __init__ files (which import
every converter) are not run. The conversion code itself is untouched.
"""
import json
import os
import shutil
import sys
import tempfile
import traceback
import types


def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def load_converter(src):
    tf = _module("tensorflow", __version__="not-installed (stub)",
                 io=types.SimpleNamespace(
                     gfile=types.SimpleNamespace(GFile=open)))
    tf.compat = _module("tensorflow.compat")
    tf.compat.v1 = _module("tensorflow.compat.v1")
    tf.compat.v2 = _module("tensorflow.compat.v2")
    _module("tf_keras", __version__="not-installed (stub)")
    pkg = _module("tensorflowjs")
    pkg.__path__ = [os.path.join(src, "tensorflowjs")]
    conv = _module("tensorflowjs.converters")
    conv.__path__ = [os.path.join(src, "tensorflowjs", "converters")]
    _module("tensorflowjs.converters.keras_tfjs_loader")
    _module("tensorflowjs.converters.tf_saved_model_conversion_v2")
    from tensorflowjs import version
    from tensorflowjs.converters import converter
    return converter, version.version


def main():
    src = sys.argv[1]
    converter, version = load_converter(src)
    print("tensorflowjs version.py says", version)
    for mdir in sys.argv[2:]:
        errors = {}
        # .keras path: the converter extracts the zip NEXT TO the file, so
        # it gets a scratch copy.
        out = os.path.join(mdir, "tfjs_from_keras")
        shutil.rmtree(out, ignore_errors=True)
        tmp = tempfile.mkdtemp()
        try:
            shutil.copy(os.path.join(mdir, "keras_file", "model.keras"), tmp)
            converter.dispatch_keras_keras_to_tfjs_layers_model_conversion(
                os.path.join(tmp, "model.keras"), output_dir=out)
        except Exception as e:  # noqa
            errors["tfjs_from_keras"] = describe(e)
            shutil.rmtree(out, ignore_errors=True)
        finally:
            shutil.rmtree(tmp)
        out = os.path.join(mdir, "tfjs_from_h5")
        shutil.rmtree(out, ignore_errors=True)
        try:
            converter.dispatch_keras_h5_to_tfjs_layers_model_conversion(
                os.path.join(mdir, "h5_file", "model.h5"), output_dir=out)
        except Exception as e:  # noqa
            errors["tfjs_from_h5"] = describe(e)
            shutil.rmtree(out, ignore_errors=True)
        ef = os.path.join(mdir, "conversion_errors.json")
        if errors:
            with open(ef, "w") as f:
                json.dump({"made_by": "scripts/keras-golden/convert_tfjs.py",
                           "converter_version_py": version,
                           "errors": errors}, f, indent=1)
        elif os.path.exists(ef):
            os.remove(ef)
        weight_map(mdir)
        print(mdir, "->", {k: (v["type"] + ": " + v["message"])
                           for k, v in errors.items()} or "both converted")


def weight_map(mdir):
    """weight_map.json: for each weight in each converted model.json, the
    Keras weight path (model.weights[i].path in weights.json) whose values
    are EXACTLY the same. Weights are seeded random, so an exact match
    identifies the weight unambiguously (checked: one match each)."""
    import numpy as np
    with open(os.path.join(mdir, "weights.json")) as f:
        kw = json.load(f)
    kvals = [(w["path"], np.asarray(w["value"], np.float32)) for w in kw]
    res = {"made_by": "scripts/keras-golden/convert_tfjs.py (exact value "
                      "match of converted weights against weights.json)"}
    for sub in ("tfjs_from_keras", "tfjs_from_h5"):
        mj = os.path.join(mdir, sub, "model.json")
        if not os.path.exists(mj):
            continue
        with open(mj) as f:
            m = json.load(f)
        entries = []
        for group in m["weightsManifest"]:
            buf = b"".join(open(os.path.join(mdir, sub, p), "rb").read()
                           for p in group["paths"])
            off = 0
            for w in group["weights"]:
                assert w["dtype"] == "float32", w
                n = int(np.prod(w["shape"])) if w["shape"] else 1
                a = np.frombuffer(buf, np.float32, n, off).reshape(w["shape"])
                off += 4 * n
                hits = [p for p, v in kvals
                        if v.shape == a.shape and np.array_equal(v, a)]
                assert len(hits) == 1, (mdir, sub, w["name"], hits)
                entries.append({"name": w["name"], "shape": w["shape"],
                                "keras_path": hits[0]})
        res[sub] = entries
    with open(os.path.join(mdir, "weight_map.json"), "w") as f:
        json.dump(res, f, indent=1)


def describe(e):
    tb = traceback.extract_tb(e.__traceback__)
    return {
        "type": type(e).__name__,
        "message": str(e),
        "frames": [f"{os.path.basename(f.filename)}:{f.lineno} {f.name}"
                   for f in tb[-4:]],
    }


if __name__ == "__main__":
    main()
