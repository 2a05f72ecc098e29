"""Sanity check of keras-real-extra/: every JSON parses, every weight's
`value` has its `shape`, every case's arrays have consistent shapes, every
converted model's bin files have the bytes its manifest says, and
predictions have one row per input row.   usage: check.py <dir>"""
import glob
import json
import os
import sys

import numpy as np

D = sys.argv[1]
n = 0


def shape_of(v):
    return list(np.asarray(v, dtype=np.float64).shape)


for f in sorted(glob.glob(os.path.join(D, "**", "*.json"), recursive=True)):
    with open(f) as fh:
        json.load(fh)
    n += 1
for f in ("gqa.json", "mha_options.json", "fully_masked.json",
          "hub_blocks.json"):
    d = json.load(open(os.path.join(D, f)))
    for ref, L in d["layers"].items():
        for w in L["weights"]:
            assert shape_of(w["value"]) == w["shape"], (f, ref, w["path"])
    for c in d["cases"]:
        L = d["layers"][c["layer"]]
        q = np.asarray(next(iter(c["inputs"].values())))
        out = np.asarray(c["output"])
        assert out.shape[:2] == q.shape[:2], (f, c["name"])
        if "scores" in c:
            s = np.asarray(c["scores"])
            assert s.shape[0] == q.shape[0] and s.shape[2] == q.shape[1]
            assert np.allclose(s.sum(-1)[s.sum(-1) > 0], 1, atol=1e-5)
        if "output_without_scores_call" in c:
            assert np.asarray(c["output_without_scores_call"]).shape == \
                out.shape
    print(f"{f}: {len(d['cases'])} cases, {len(d['layers'])} layers ok")
for m in sorted(glob.glob(os.path.join(D, "model_*"))):
    p = json.load(open(os.path.join(m, "predictions.json")))
    w = json.load(open(os.path.join(m, "weights.json")))
    for e in w:
        assert shape_of(e["value"]) == e["shape"], (m, e["path"])
    ins = p["inputs"] if len(p["input_names"]) > 1 else [p["inputs"]]
    preds = p["predictions"]
    preds = preds if len(p["output_names"]) > 1 else [preds]
    for x in ins:
        assert len(x) == len(ins[0])
    for y in preds:
        assert len(y) == len(ins[0]), m
    for sub in ("tfjs_from_keras", "tfjs_from_h5"):
        mj = json.load(open(os.path.join(m, sub, "model.json")))
        for g in mj["weightsManifest"]:
            need = sum(4 * int(np.prod(x["shape"])) for x in g["weights"])
            have = sum(os.path.getsize(os.path.join(m, sub, pth))
                       for pth in g["paths"])
            assert need == have, (m, sub, need, have)
        assert len(mj["weightsManifest"][0]["weights"]) == len(w), (m, sub)
    for sub in ("keras_file/model.keras", "h5_file/model.h5",
                "keras_to_json.json", "weight_map.json"):
        assert os.path.exists(os.path.join(m, sub)), (m, sub)
    print(f"{os.path.basename(m)}: inputs {[np.asarray(x).shape for x in ins]}"
          f" -> predictions {[np.asarray(y).shape for y in preds]}, "
          f"{len(w)} weights; both conversions consistent")
print(n, "JSON files parse")
