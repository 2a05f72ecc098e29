"""Layer-level golden cases, by RUNNING Keras 3 (torch backend, CPU).

usage: gen_layers.py <out dir>     (see run.sh for the environment)

Writes gqa.json, mha_options.json, fully_masked.json, hub_blocks.json.
Each case calls the real layer twice: once with return_attention_scores=True
(`output`, `scores`) and once without (`output_without_scores_call`; on torch
that goes through ops.dot_product_attention when no dropout). Keras masks on
tensors are attached with keras.src.backend.set_keras_mask on fresh tensors
for every call (MultiHeadAttention clears the masks of its inputs).
`keras_attention_mask` is the mask Keras itself builds for the case
(`layer._compute_attention_mask(...)`, the layer's own method, with the
Keras masks passed as query_mask/value_mask/key_mask) so a reader can see
which rows are fully masked; it is null when Keras builds none.
"""
import inspect
import json
import os
import sys

import numpy as np

import keras
from keras import ops

from common import (dump, env_info, masked, npy, set_seeded_weights, tl,
                    weights_json)

OUT = sys.argv[1]
keras.utils.set_random_seed(4321)
ENV = env_info()

rs = np.random.RandomState(2024)


def f32(*s):
    return rs.randn(*s).astype(np.float32)


query = f32(2, 5, 6)
value = f32(2, 7, 6)
key = f32(2, 7, 5)
selfx = f32(2, 6, 6)
att_mask = rs.rand(2, 5, 7) > 0.35
att_mask[0, 0, 0] = True
att_mask[1, 2, :] = False  # a fully masked query row
self_att_mask = rs.rand(2, 6, 6) > 0.3
for i in range(6):
    self_att_mask[:, i, i] = True
q_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=bool)
v_mask = np.array([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0]], dtype=bool)
k_mask = np.array([[1, 1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]], dtype=bool)
s_mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
s_mask_left = np.array([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=bool)


def ser(v):
    return tl(v) if isinstance(v, np.ndarray) else v


def keras_mask_for(layer, arrays, masks, kwargs):
    if not hasattr(layer, "_compute_attention_mask"):
        return None
    q = ops.convert_to_tensor(arrays["query"])
    v = ops.convert_to_tensor(arrays["value"])
    m = layer._compute_attention_mask(
        q, v,
        query_mask=masks.get("query"),
        value_mask=masks.get("value"),
        key_mask=masks.get("key"),
        attention_mask=kwargs.get("attention_mask"),
        use_causal_mask=kwargs.get("use_causal_mask", False),
    )
    return None if m is None else tl(ops.cast(m, "bool"))


def attention_case(cases, name, layer, ref, arrays, kwargs=None, masks=None):
    kwargs = kwargs or {}
    masks = masks or {}

    def fresh():
        return {k: masked(v, masks.get(k)) for k, v in arrays.items()}

    out, scores = layer(**fresh(), **kwargs, return_attention_scores=True)
    plain = layer(**fresh(), **kwargs)
    c = {
        "name": name,
        "layer": ref,
        "inputs": {k: tl(v) for k, v in arrays.items()},
        "kwargs": {k: ser(v) for k, v in kwargs.items()},
        "keras_masks": {k: tl(v) for k, v in masks.items()},
        "keras_attention_mask": keras_mask_for(layer, arrays, masks, kwargs),
        "output": tl(out),
        "scores": tl(scores),
        "output_without_scores_call": tl(plain),
        "max_abs_diff_scores_vs_plain_path": float(
            np.max(np.abs(npy(out) - npy(plain)))),
    }
    km = c["keras_attention_mask"]
    if km is not None:
        km = np.asarray(km, bool)
        km = np.broadcast_to(km, npy(out).shape[:2] + km.shape[-1:])
        full = ~km.any(axis=-1)  # [B, T]: query rows with no visible key
        c["fully_masked_rows"] = [[int(b), int(t)]
                                  for b, t in zip(*np.nonzero(full))]
        d = np.abs(npy(out) - npy(plain))[~full]
        c["max_abs_diff_scores_vs_plain_path_on_rows_with_a_visible_key"] = (
            float(d.max()) if d.size else 0.0)
    else:
        c["fully_masked_rows"] = []
    cases.append(c)
    print(f"  case {ref}: {name}: diff(scores path, plain path) = "
          f"{c['max_abs_diff_scores_vs_plain_path']:.3g}, on rows with a "
          f"visible key "
          f"{c.get('max_abs_diff_scores_vs_plain_path_on_rows_with_a_visible_key', c['max_abs_diff_scores_vs_plain_path']):.3g}"
          f", fully masked rows {c['fully_masked_rows']}")
    return c


def layer_entry(layer):
    return {
        "class_name": layer.__class__.__name__,
        "registered_name": keras.saving.get_registered_name(layer.__class__),
        "config": layer.get_config(),
        "weights": weights_json(layer),
    }


def standard_cases(cases, layer, ref, with_key):
    """The set of calls made for every cross-attention layer."""
    a = {"query": query, "value": value}
    if with_key:
        a["key"] = key
    attention_case(cases, "no mask", layer, ref, a)
    attention_case(cases, "attention_mask (row [1,2] fully masked)", layer,
                   ref, a, {"attention_mask": att_mask})
    masks = {"query": q_mask, "value": v_mask}
    if with_key:
        masks["key"] = k_mask
    attention_case(cases, "Keras masks on the input tensors", layer, ref, a,
                   masks=masks)
    attention_case(cases, "Keras value mask + attention_mask", layer, ref, a,
                   {"attention_mask": att_mask}, masks={"value": v_mask})
    if not with_key:
        s = {"query": selfx, "value": selfx}
        attention_case(cases, "self-attention, use_causal_mask", layer, ref, s,
                       {"use_causal_mask": True})
        attention_case(cases, "self-attention, use_causal_mask + Keras masks "
                       "(query and value, right padding)", layer, ref, s,
                       {"use_causal_mask": True},
                       masks={"query": s_mask, "value": s_mask})
        attention_case(cases, "self-attention, use_causal_mask + "
                       "attention_mask", layer, ref, s,
                       {"use_causal_mask": True,
                        "attention_mask": self_att_mask})


# ------------------------------------------------------------ GQA ----------
GQA = keras.layers.GroupQueryAttention
print("GroupedQueryAttention")
gqa_layers = {}
gqa_cases = []
specs = [
    ("gqa_kv", dict(use_bias=True), False),
    ("gqa_kv_nobias", dict(use_bias=False), False),
    ("gqa_k", dict(use_bias=True), True),
]
for i, (ref, extra, with_key) in enumerate(specs):
    layer = GQA(head_dim=3, num_query_heads=4, num_key_value_heads=2,
                name=ref, **extra)
    if with_key:
        layer(query, value, key)
    else:
        layer(query, value)
    set_seeded_weights(layer, 100 + i)
    gqa_layers[ref] = layer_entry(layer)
    standard_cases(gqa_cases, layer, ref, with_key)

# GQA with its own sliding_window / use_gate options
for i, (ref, extra) in enumerate([
        ("gqa_sliding_window_2", dict(sliding_window=2)),
        ("gqa_use_gate", dict(use_gate=True)),
        ("gqa_use_gate_nobias", dict(use_gate=True, use_bias=False))]):
    layer = GQA(head_dim=3, num_query_heads=4, num_key_value_heads=2,
                name=ref, **extra)
    layer(selfx, selfx)
    set_seeded_weights(layer, 200 + i)
    gqa_layers[ref] = layer_entry(layer)
    s = {"query": selfx, "value": selfx}
    attention_case(gqa_cases, "self-attention", layer, ref, s)
    attention_case(gqa_cases, "self-attention, use_causal_mask", layer, ref,
                   s, {"use_causal_mask": True})
    attention_case(gqa_cases, "self-attention, Keras masks (right padding)",
                   layer, ref, s, masks={"query": s_mask, "value": s_mask})
    attention_case(gqa_cases, "cross-attention T=5 S=7", layer, ref,
                   {"query": query, "value": value})

# The names Keras gives the class.
from keras.src.saving import serialization_lib  # noqa: E402

gq = GQA(head_dim=3, num_query_heads=4, num_key_value_heads=2)
names = {
    "python_class": GQA.__name__,
    "keras_export": "keras.layers.GroupQueryAttention",
    "keras.saving.get_registered_name": keras.saving.get_registered_name(GQA),
    "serialize_keras_object(layer).class_name":
        serialization_lib.serialize_keras_object(gq)["class_name"],
    "serialize_keras_object(layer).module":
        serialization_lib.serialize_keras_object(gq)["module"],
    "hasattr(keras.layers, 'GroupedQueryAttention')":
        hasattr(keras.layers, "GroupedQueryAttention"),
    "note": "class_name in model.to_json()/.keras config.json and in the .h5 "
            "model_config attribute: see model_gqa/registered_names.json",
}
dump(os.path.join(OUT, "gqa.json"), {
    "made_by": "scripts/keras-golden/gen_layers.py (real Keras run)",
    "env": ENV,
    "class_names": names,
    "layers": gqa_layers,
    "cases": gqa_cases,
})

# ------------------------------------- MHA sliding_window / use_gate -------
print("MultiHeadAttention options")
MHA = keras.layers.MultiHeadAttention
sig = inspect.signature(MHA.__init__).parameters
has_sw = "sliding_window" in sig
has_gate = "use_gate" in sig
doc = MHA.__doc__
sw_doc = doc[doc.index("sliding_window:"):doc.index("flash_attention:")]
sw_src = inspect.getsource(MHA._compute_sliding_window_mask)
opt_layers = {}
opt_cases = []
band_examples = {}
specs = [
    ("mha_sw1", dict(sliding_window=1)),
    ("mha_sw2", dict(sliding_window=2)),
    ("mha_sw3", dict(sliding_window=3)),
    ("mha_gate", dict(use_gate=True)),
    ("mha_gate_nobias", dict(use_gate=True, use_bias=False)),
    ("mha_gate_sw2", dict(use_gate=True, sliding_window=2)),
]
for i, (ref, extra) in enumerate(specs):
    layer = MHA(num_heads=2, key_dim=3, value_dim=4, name=ref, **extra)
    layer(selfx, selfx)
    set_seeded_weights(layer, 300 + i)
    opt_layers[ref] = layer_entry(layer)
    s = {"query": selfx, "value": selfx}
    attention_case(opt_cases, "self-attention T=S=6", layer, ref, s)
    attention_case(opt_cases, "self-attention, use_causal_mask", layer, ref,
                   s, {"use_causal_mask": True})
    attention_case(opt_cases, "self-attention, Keras masks (right padding)",
                   layer, ref, s, masks={"query": s_mask, "value": s_mask})
    attention_case(opt_cases, "self-attention, use_causal_mask + Keras value "
                   "mask (left padding)", layer, ref, s,
                   {"use_causal_mask": True}, masks={"value": s_mask_left})
    attention_case(opt_cases, "self-attention, attention_mask", layer, ref, s,
                   {"attention_mask": self_att_mask})
    attention_case(opt_cases, "cross-attention T=5 S=7", layer, ref,
                   {"query": query, "value": value})
    if "sliding_window" in extra:
        w = extra["sliding_window"]
        band_examples[f"sliding_window={w}, T=S=6"] = tl(
            layer._compute_sliding_window_mask(
                ops.convert_to_tensor(selfx), ops.convert_to_tensor(selfx))[0])
        band_examples[f"sliding_window={w}, T=5, S=7"] = tl(
            layer._compute_sliding_window_mask(
                ops.convert_to_tensor(query), ops.convert_to_tensor(value))[0])

dump(os.path.join(OUT, "mha_options.json"), {
    "made_by": "scripts/keras-golden/gen_layers.py (real Keras run)",
    "env": ENV,
    "has_sliding_window": has_sw,
    "has_use_gate": has_gate,
    "sliding_window_docstring": " ".join(sw_doc.split()),
    "sliding_window_source": sw_src,
    "sliding_window_masks_from_keras": band_examples,
    "layers": opt_layers,
    "cases": opt_cases,
})

# ------------------------------------------------ fully masked rows --------
print("Fully masked rows")
fm_layers = {}
fm_cases = []
mha = MHA(num_heads=2, key_dim=3, value_dim=4, name="mha_fm")
mha(query, value)
set_seeded_weights(mha, 400)
gqa = GQA(head_dim=3, num_query_heads=4, num_key_value_heads=2, name="gqa_fm")
gqa(query, value)
set_seeded_weights(gqa, 401)
v_mask_empty = np.array([[1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]],
                        dtype=bool)
for layer, ref in ((mha, "mha_fm"), (gqa, "gqa_fm")):
    fm_layers[ref] = layer_entry(layer)
    a = {"query": query, "value": value}
    attention_case(fm_cases, "attention_mask: row [1,2] all False", layer,
                   ref, a, {"attention_mask": att_mask})
    attention_case(fm_cases, "Keras query mask (masked query rows are fully "
                   "masked rows)", layer, ref, a, masks={"query": q_mask})
    attention_case(fm_cases, "Keras value mask all False for batch 1",
                   layer, ref, a, masks={"value": v_mask_empty})
    s = {"query": selfx, "value": selfx}
    attention_case(fm_cases, "causal + Keras value mask with left padding "
                   "(rows 0 and 1 of batch 0 fully masked)", layer, ref, s,
                   {"use_causal_mask": True}, masks={"value": s_mask_left})


def fully_masked_facts(case, layer):
    """What each path gave on the fully masked rows, checked numerically
    against two candidate rules: (a) output = the output projection's bias
    (all-zero attention weights), (b) output = the output projection of the
    uniform average of the projected values (uniform weights)."""
    rows = case["fully_masked_rows"]
    if not rows:
        return
    out = np.asarray(case["output"], np.float64)
    plain = np.asarray(case["output_without_scores_call"], np.float64)
    scores = np.asarray(case["scores"], np.float64)
    wd = {w.path.split("/", 1)[1]: npy(w).astype(np.float64)
          for w in layer.weights}
    bias = wd.get("attention_output/bias", 0.0)
    v_in = np.asarray(case["inputs"]["value"], np.float64)
    vk, vb = wd["value/kernel"], wd.get("value/bias", 0.0)
    v = np.einsum("bsm,mnh->bsnh", v_in, vk) + vb  # [B, S, Nkv, H]
    ok = wd["attention_output/kernel"]  # [N, H, F]
    if v.shape[2] != ok.shape[0]:  # GQA: repeat kv heads
        v = np.repeat(v, ok.shape[0] // v.shape[2], axis=2)
    gate = None
    if "gate/kernel" in wd:
        q_in = np.asarray(case["inputs"]["query"], np.float64)
        gate = 1 / (1 + np.exp(-(np.einsum("btm,mnh->btnh", q_in,
                                           wd["gate/kernel"])
                                 + wd.get("gate/bias", 0.0))))
    uni = v.mean(axis=1)  # [B, N, H]
    d_bias_scores, d_uni_plain, zero_scores = 0.0, 0.0, 0.0
    for b, t in rows:
        u = uni[b] if gate is None else uni[b] * gate[b, t]
        d_bias_scores = max(d_bias_scores,
                            float(np.max(np.abs(out[b, t] - bias))))
        d_uni_plain = max(d_uni_plain, float(np.max(np.abs(
            plain[b, t] - (np.einsum("nh,nhf->f", u, ok) + bias)))))
        zero_scores = max(zero_scores, float(np.max(np.abs(scores[b, :, t]))))
    case["fully_masked_row_facts"] = {
        "max_abs(scores on those rows)": zero_scores,
        "max_abs(output - attention_output bias) on those rows, scores "
        "path": d_bias_scores,
        "max_abs(output - uniform-weights output) on those rows, plain "
        "path": d_uni_plain,
    }
    print("   ", case["fully_masked_row_facts"])


by_ref = {"mha_fm": mha, "gqa_fm": gqa}
for c in fm_cases:
    fully_masked_facts(c, by_ref[c["layer"]])

dump(os.path.join(OUT, "fully_masked.json"), {
    "made_by": "scripts/keras-golden/gen_layers.py (real Keras run)",
    "env": ENV,
    "note": "Rows of keras_attention_mask that are all False are fully "
            "masked query rows. `output`/`scores` come from the call with "
            "return_attention_scores=True (Keras Softmax zeroes masked "
            "positions), `output_without_scores_call` from the plain call "
            "(ops.dot_product_attention on torch).",
    "layers": fm_layers,
    "cases": fm_cases,
})

# ------------------------------------------------ keras-hub blocks ---------
print("keras-hub blocks")
from hub_import import import_hub_layers  # noqa: E402

hub = import_hub_layers(os.environ["HUB_SRC"])
ENV_HUB = dict(ENV, keras_hub_version=hub.version,
               keras_hub_commit=os.environ.get("HUB_COMMIT", "unknown"))
hub_layers = {}
hub_cases = []


def hub_case(name, layer, ref, args, kwargs=None, masks=None, scores=False):
    """args: ordered positional tensors (name -> array)."""
    kwargs = kwargs or {}
    masks = masks or {}

    def fresh():
        return [masked(v, masks.get(k)) for k, v in args.items()]

    res = layer(*fresh(), **kwargs)
    c = {
        "name": name,
        "layer": ref,
        "inputs": {k: tl(v) for k, v in args.items()},
        "positional": list(args.keys()),
        "kwargs": {k: ser(v) for k, v in kwargs.items()},
        "keras_masks": {k: tl(v) for k, v in masks.items()},
    }
    if scores:
        out, sc = layer(*fresh(), **kwargs, return_attention_scores=True)
        c["output"] = tl(out)
        c["scores"] = tl(sc)
        c["output_without_scores_call"] = tl(res)
    else:
        c["output"] = tl(res)
    om = keras.src.backend.get_keras_mask(res)
    c["output_keras_mask"] = None if om is None else tl(om)
    hub_cases.append(c)
    print(f"  case {ref}: {name}")
    return c


enc_x = f32(2, 6, 8)
dec_x = f32(2, 5, 8)
enc_pad = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
dec_pad = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
enc_att = rs.rand(2, 6, 6) > 0.3
for i in range(6):
    enc_att[:, i, i] = True

for j, (ref, extra) in enumerate([("hub_encoder", {}),
                                  ("hub_encoder_prenorm",
                                   {"normalize_first": True})]):
    enc = hub.TransformerEncoder(intermediate_dim=16, num_heads=2, name=ref,
                                 **extra)
    enc(enc_x)
    set_seeded_weights(enc, 500 + j)
    hub_layers[ref] = layer_entry(enc)
    a = {"inputs": enc_x}
    hub_case("no mask", enc, ref, a, scores=True)
    hub_case("padding_mask keyword", enc, ref, a,
             {"padding_mask": enc_pad.astype(np.int32)}, scores=True)
    hub_case("Keras mask on the input tensor", enc, ref, a,
             masks={"inputs": enc_pad}, scores=True)
    hub_case("attention_mask keyword", enc, ref, a,
             {"attention_mask": enc_att.astype(np.int32)}, scores=True)
    hub_case("padding_mask + attention_mask keywords", enc, ref, a,
             {"padding_mask": enc_pad.astype(np.int32),
              "attention_mask": enc_att.astype(np.int32)}, scores=True)

dec_sig = list(inspect.signature(hub.TransformerDecoder.call).parameters)
enc_sig = list(inspect.signature(hub.TransformerEncoder.call).parameters)
for j, (ref, extra) in enumerate([("hub_decoder_only", {})]):
    dec = hub.TransformerDecoder(intermediate_dim=16, num_heads=2, name=ref,
                                 **extra)
    dec(dec_x)
    set_seeded_weights(dec, 600 + j)
    hub_layers[ref] = layer_entry(dec)
    a = {"decoder_sequence": dec_x}
    hub_case("default call (use_causal_mask=True)", dec, ref, a)
    hub_case("use_causal_mask=False", dec, ref, a, {"use_causal_mask": False})
    hub_case("decoder_padding_mask keyword", dec, ref, a,
             {"decoder_padding_mask": dec_pad.astype(np.int32)})
    hub_case("Keras mask on decoder_sequence", dec, ref, a,
             masks={"decoder_sequence": dec_pad})
    hub_case("Keras mask on decoder_sequence, use_causal_mask=False", dec,
             ref, a, {"use_causal_mask": False},
             masks={"decoder_sequence": dec_pad})

for j, (ref, extra) in enumerate([("hub_decoder_cross", {}),
                                  ("hub_decoder_cross_prenorm",
                                   {"normalize_first": True})]):
    dec = hub.TransformerDecoder(intermediate_dim=16, num_heads=2, name=ref,
                                 **extra)
    dec(dec_x, enc_x)
    set_seeded_weights(dec, 700 + j)
    hub_layers[ref] = layer_entry(dec)
    a = {"decoder_sequence": dec_x, "encoder_sequence": enc_x}
    hub_case("default call (use_causal_mask=True)", dec, ref, a)
    hub_case("use_causal_mask=False", dec, ref, a, {"use_causal_mask": False})
    hub_case("encoder_padding_mask keyword", dec, ref, a,
             {"encoder_padding_mask": enc_pad.astype(np.int32)})
    hub_case("decoder_padding_mask + encoder_padding_mask keywords", dec, ref,
             a, {"decoder_padding_mask": dec_pad.astype(np.int32),
                 "encoder_padding_mask": enc_pad.astype(np.int32)})
    hub_case("Keras masks on decoder_sequence and encoder_sequence", dec, ref,
             a, masks={"decoder_sequence": dec_pad,
                       "encoder_sequence": enc_pad})
    hub_case("Keras mask on encoder_sequence only", dec, ref, a,
             masks={"encoder_sequence": enc_pad})

dump(os.path.join(OUT, "hub_blocks.json"), {
    "made_by": "scripts/keras-golden/gen_layers.py (real Keras + keras-hub "
               "run)",
    "env": ENV_HUB,
    "TransformerEncoder.call_parameters": enc_sig,
    "TransformerDecoder.call_parameters": dec_sig,
    "note": "TransformerEncoder returns (output, scores) when called with "
            "return_attention_scores=True; TransformerDecoder.call has no "
            "such argument in this keras-hub (see call_parameters). Boolean "
            "padding/attention masks given as keywords were passed as int32 "
            "0/1 arrays.",
    "layers": hub_layers,
    "cases": hub_cases,
})
