"""Model-level golden files, by RUNNING Keras 3 (torch backend, CPU).

usage: gen_models.py <out dir>   (then convert_tfjs.py makes tfjs_from_*/)

For every model_<name>/:
  keras_to_json.json   model.to_json()
  weights.json         model.weights: path, name, shape, dtype, value
  predictions.json     env, inputs, input_names, input_dtypes, predictions
                       (model.predict; a list when the model has several
                       outputs), optional `intermediate` (outputs of named
                       layers, from a keras.Model over the same graph) and
                       `checks` (facts measured in this run)
  keras_file/model.keras, h5_file/model.h5   model.save(...)
Weights are seeded random values set after build (common.set_seeded_weights).
"""
import json
import os
import sys
import zipfile

import h5py
import numpy as np

import keras
from keras import layers, ops

from keras.src.backend import set_keras_mask
from common import dump, env_info, npy, set_seeded_weights, tl, weights_json

OUT = sys.argv[1]
ONLY = sys.argv[2:]  # optional model names
keras.utils.set_random_seed(5678)
ENV = env_info()
rs = np.random.RandomState(77)

from hub_import import import_hub_layers  # noqa: E402

hub = import_hub_layers(os.environ["HUB_SRC"])
ENV_HUB = dict(ENV, keras_hub_version=hub.version,
               keras_hub_commit=os.environ.get("HUB_COMMIT", "unknown"))

TOKENS10 = np.array([
    [3, 5, 7, 2, 9, 0, 0, 0, 0, 0],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    [12, 0, 4, 11, 19, 25, 0, 0, 0, 0],
    [29, 28, 0, 0, 0, 0, 0, 0, 0, 0],
], dtype=np.int32)
TOKENS8 = np.array([
    [3, 5, 7, 2, 0, 0, 0, 0],
    [1, 2, 3, 4, 5, 6, 7, 8],
    [9, 0, 4, 11, 19, 0, 0, 0],
], dtype=np.int32)


def wants(name):
    return not ONLY or name in ONLY


def mask_zero_twin_diff(model, inputs, pred):
    """Rebuilds the model from its config with every mask_zero=True turned
    off, same weights: how much the padding masks change the predictions."""
    cfg = model.get_config()
    found = False
    for layer in cfg["layers"]:
        c = layer.get("config", {})
        if c.get("mask_zero"):
            c["mask_zero"] = False
            found = True
    if not found:
        return None
    twin = model.__class__.from_config(cfg)
    twin.set_weights(model.get_weights())
    p2 = twin.predict(inputs, verbose=0)
    a = pred if isinstance(pred, (list, tuple)) else [pred]
    b = p2 if isinstance(p2, (list, tuple)) else [p2]
    return float(max(np.abs(x - y).max() for x, y in zip(a, b)))


def save_model(name, model, inputs, env=ENV, intermediate_layers=(),
               checks=None, seed=0, weights_set=True, note=None):
    if weights_set:
        set_seeded_weights(model, seed)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    pred = model.predict(inputs, verbose=0)
    call = model(inputs)
    preds = pred if isinstance(pred, (list, tuple)) else [pred]
    calls = call if isinstance(call, (list, tuple)) else [call]
    for p, c in zip(preds, calls):
        assert np.allclose(p, npy(c), atol=1e-5), name
    with open(os.path.join(d, "keras_to_json.json"), "w") as f:
        f.write(model.to_json())
    dump(os.path.join(d, "weights.json"), weights_json(model))
    ins = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    res = {
        "made_by": "scripts/keras-golden/gen_models.py (real Keras run: "
                   "model.predict)",
        "env": env,
        "model_name": model.name,
        "input_names": [t.name for t in model.inputs],
        "input_dtypes": [str(np.asarray(x).dtype) for x in ins],
        "inputs": tl(inputs) if not isinstance(inputs, (list, tuple))
        else [tl(x) for x in ins],
        "output_names": [model.layers[-1].name] if isinstance(
            model, keras.Sequential) else list(model.output_names),
        "predictions": tl(pred) if not isinstance(pred, (list, tuple))
        else [tl(p) for p in pred],
    }
    if note:
        res["note"] = note
    if intermediate_layers:
        outs = [model.get_layer(n).output for n in intermediate_layers]
        sub = keras.Model(model.inputs, outs)
        vals = sub.predict(inputs, verbose=0)
        if len(intermediate_layers) == 1:
            vals = [vals]
        res["intermediate"] = {n: tl(v) for n, v in
                               zip(intermediate_layers, vals)}
    res["checks"] = checks(model, inputs, pred) if checks else {}
    twin = mask_zero_twin_diff(model, inputs, pred)
    if twin is not None:
        res["checks"]["max_abs(predictions - same model and weights with "
                      "mask_zero=False)"] = twin
    if not res["checks"]:
        del res["checks"]
    else:
        print("  checks:", res["checks"])
    dump(os.path.join(d, "predictions.json"), res)
    for sub, fn in (("keras_file", "model.keras"), ("h5_file", "model.h5")):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        model.save(os.path.join(d, sub, fn))
    # class names as written in every file
    names = {}
    names["to_json"] = [l["class_name"] for l in
                        json.loads(model.to_json())["config"]["layers"]]
    with zipfile.ZipFile(os.path.join(d, "keras_file", "model.keras")) as z:
        cfg = json.loads(z.read("config.json"))
    names["keras_file/config.json"] = [l["class_name"] for l in
                                       cfg["config"]["layers"]]
    with h5py.File(os.path.join(d, "h5_file", "model.h5"), "r") as h:
        mc = h.attrs["model_config"]
        mc = json.loads(mc if isinstance(mc, str) else mc.decode())
    names["h5_file/model_config"] = [l["class_name"] for l in
                                     mc["config"]["layers"]]
    print("  class names:", names)
    return names


# ----------------------------------------------------------- text classifier
if wants("model_text_classifier"):
    print("model_text_classifier")
    inp = keras.Input(shape=(10,), dtype="int32", name="tokens")
    x = layers.Embedding(30, 8, mask_zero=True, name="embedding")(inp)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4,
                                  name="multi_head_attention")(x, x)
    y = layers.Add(name="add")([x, a])
    y = layers.LayerNormalization(name="layer_normalization")(y)
    f = layers.Dense(16, activation="relu", name="ffn_1")(y)
    f = layers.Dense(8, name="ffn_2")(f)
    y = layers.Add(name="add_1")([y, f])
    y = layers.LayerNormalization(name="layer_normalization_1")(y)
    p = layers.GlobalMaxPooling1D(name="global_max_pooling1d")(y)
    p = layers.Dropout(0.1, name="dropout")(p)
    out = layers.Dense(3, name="dense")(p)
    model = keras.Model(inp, out, name="text_classifier")

    def checks(model, x, pred):
        pre = keras.Model(model.inputs,
                          model.get_layer("layer_normalization_1").output)
        h = pre.predict(x, verbose=0)
        pooled = keras.Model(model.inputs,
                             model.get_layer("global_max_pooling1d").output
                             ).predict(x, verbose=0)
        m = x != 0
        h_masked = np.where(m[..., None], h, -np.inf)
        # The padded query rows are fully masked rows. Same layers, but the
        # MHA called with return_attention_scores=True (scores dropped):
        # Keras's other path for those rows (output = bias, not uniform).
        ti = keras.Input(shape=(10,), dtype="int32")
        e = model.get_layer("embedding")(ti)
        a2, _ = model.get_layer("multi_head_attention")(
            e, e, return_attention_scores=True)
        z = model.get_layer("add")([e, a2])
        for n in ("layer_normalization",):
            z = model.get_layer(n)(z)
        f2 = model.get_layer("ffn_2")(model.get_layer("ffn_1")(z))
        z = model.get_layer("add_1")([z, f2])
        z = model.get_layer("layer_normalization_1")(z)
        z = model.get_layer("global_max_pooling1d")(z)
        z = model.get_layer("dense")(model.get_layer("dropout")(z))
        p_scores_path = keras.Model(ti, z).predict(x, verbose=0)
        return {
            "max_abs(predictions - same layers with the MHA on its "
            "return_attention_scores path)":
                float(np.abs(p_scores_path - pred).max()),
            "GlobalMaxPooling1D.supports_masking":
                bool(model.get_layer("global_max_pooling1d").supports_masking),
            "max_abs(pooled - max over all steps)":
                float(np.abs(pooled - h.max(axis=1)).max()),
            "max_abs(pooled - max over unmasked steps)":
                float(np.abs(pooled - h_masked.max(axis=1)).max()),
        }

    save_model("model_text_classifier", model, TOKENS10, seed=21,
               intermediate_layers=["multi_head_attention",
                                    "layer_normalization_1",
                                    "global_max_pooling1d"],
               checks=checks)

# ------------------------------------------------- Sequential hub encoder
if wants("model_hub_sequential"):
    print("model_hub_sequential")
    model = keras.Sequential([
        keras.Input(shape=(8,), dtype="int32", name="tokens"),
        hub.TokenAndPositionEmbedding(vocabulary_size=20, sequence_length=8,
                                      embedding_dim=8, mask_zero=True,
                                      name="token_and_position_embedding"),
        hub.TransformerEncoder(intermediate_dim=16, num_heads=2,
                               name="transformer_encoder"),
        layers.GlobalAveragePooling1D(name="global_average_pooling1d"),
        layers.Dense(3, name="dense"),
    ], name="hub_sequential")

    def checks(model, x, pred):
        h = keras.Model(model.inputs,
                        model.get_layer("transformer_encoder").output
                        ).predict(x, verbose=0)
        m = (x != 0)[..., None]
        return {
            "GlobalAveragePooling1D == mean over unmasked steps (max abs)":
                float(np.abs(
                    keras.Model(model.inputs, model.get_layer(
                        "global_average_pooling1d").output).predict(
                        x, verbose=0) - (h * m).sum(1) / m.sum(1)).max()),
        }

    save_model("model_hub_sequential", model, TOKENS8, env=ENV_HUB, seed=22,
               intermediate_layers=["transformer_encoder",
                                    "global_average_pooling1d"],
               checks=checks)

# ------------------------------------------------------ encoder-decoder
if wants("model_hub_seq2seq"):
    print("model_hub_seq2seq")
    enc_in = keras.Input(shape=(8,), dtype="int32", name="encoder_tokens")
    dec_in = keras.Input(shape=(6,), dtype="int32", name="decoder_tokens")
    e = hub.TokenAndPositionEmbedding(20, 8, 8, mask_zero=True,
                                      name="encoder_embedding")(enc_in)
    e = hub.TransformerEncoder(16, 2, name="transformer_encoder")(e)
    d = hub.TokenAndPositionEmbedding(20, 6, 8, mask_zero=True,
                                      name="decoder_embedding")(dec_in)
    d = hub.TransformerDecoder(16, 2, name="transformer_decoder")(d, e)
    out = layers.Dense(20, name="lm_head")(d)
    model = keras.Model([enc_in, dec_in], out, name="hub_seq2seq")
    dec_tok = np.array([[1, 4, 6, 0, 0, 0], [2, 3, 5, 7, 11, 13],
                        [8, 0, 9, 0, 0, 0]], dtype=np.int32)

    def checks(model, x, pred):
        # Same layers (same weights), masks given as keywords instead of
        # riding on the tensors; equal on real (unpadded) decoder positions?
        ei = keras.Input(shape=(8,), dtype="int32")
        di = keras.Input(shape=(6,), dtype="int32")
        epm = keras.Input(shape=(8,), dtype="int32")
        dpm = keras.Input(shape=(6,), dtype="int32")
        ee = model.get_layer("encoder_embedding")(ei)
        ee = keras.layers.Identity()(ee)  # noqa  (mask rides along)
        ee = model.get_layer("transformer_encoder")(ee, padding_mask=epm)
        dd = model.get_layer("decoder_embedding")(di)
        dd = model.get_layer("transformer_decoder")(
            dd, ee, decoder_padding_mask=dpm, encoder_padding_mask=epm)
        o = model.get_layer("lm_head")(dd)
        twin = keras.Model([ei, di, epm, dpm], o)
        p2 = twin.predict([x[0], x[1], (x[0] != 0).astype("int32"),
                           (x[1] != 0).astype("int32")], verbose=0)
        real = x[1] != 0
        # and with no masks at all, to show the masks matter
        return {
            "keyword-mask twin vs model, max abs on real decoder positions":
                float(np.abs(p2 - pred)[real].max()),
            "keyword-mask twin vs model, max abs on padded decoder positions":
                float(np.abs(p2 - pred)[~real].max()),
        }

    save_model("model_hub_seq2seq", model, [TOKENS8, dec_tok], env=ENV_HUB,
               seed=23,
               intermediate_layers=["transformer_encoder",
                                    "transformer_decoder"],
               checks=checks)

# ------------------------------------------- decoder-only LM (GPT-like)
if wants("model_hub_decoder_lm"):
    print("model_hub_decoder_lm")
    inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
    x = hub.TokenAndPositionEmbedding(20, 8, 8, mask_zero=True,
                                      name="token_and_position_embedding")(inp)
    x = hub.TransformerDecoder(16, 2, normalize_first=True,
                               name="transformer_decoder")(x)
    x = layers.LayerNormalization(name="final_norm")(x)
    out = layers.Dense(20, name="lm_head")(x)
    model = keras.Model(inp, out, name="hub_decoder_lm")
    save_model("model_hub_decoder_lm", model, TOKENS8, env=ENV_HUB, seed=36,
               note="TransformerDecoder without encoder_sequence: causal "
                    "self-attention (use_causal_mask defaults to True) and the "
                    "padding mask from TokenAndPositionEmbedding(mask_zero); "
                    "normalize_first=True (pre-norm).")

# ----------------------------------------------------------------- GQA
GQA = layers.GroupQueryAttention
if wants("model_gqa"):
    print("model_gqa")
    inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 8, mask_zero=True, name="embedding")(inp)
    a = GQA(head_dim=4, num_query_heads=4, num_key_value_heads=2,
            name="gqa")(x, x)
    y = layers.Add(name="add")([x, a])
    y = layers.LayerNormalization(name="layer_normalization")(y)
    b = GQA(head_dim=2, num_query_heads=2, num_key_value_heads=1,
            use_bias=False, name="gqa_causal")(y, y, use_causal_mask=True)
    y = layers.Add(name="add_1")([y, b])
    y = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(y)
    out = layers.Dense(3, name="dense")(y)
    model = keras.Model(inp, out, name="gqa_model")
    names = save_model("model_gqa", model, TOKENS8, seed=24,
                       intermediate_layers=["gqa", "gqa_causal"])
    dump(os.path.join(OUT, "model_gqa", "registered_names.json"), {
        "made_by": "scripts/keras-golden/gen_models.py: class_name of every "
                   "layer as written in each saved file of model_gqa",
        **names})

# ---------------------- MHA sliding_window + use_gate, GQA with both, in a model
if wants("model_attention_options"):
    print("model_attention_options")
    inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 8, mask_zero=True, name="embedding")(inp)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4, sliding_window=3,
                                  use_gate=True, name="mha_window_gate")(
        x, x, use_causal_mask=True)
    y = layers.Add(name="add")([x, a])
    y = layers.LayerNormalization(name="layer_normalization")(y)
    b = GQA(head_dim=4, num_query_heads=4, num_key_value_heads=2,
            sliding_window=2, use_gate=True, name="gqa_window_gate")(y, y)
    y = layers.Add(name="add_1")([y, b])
    y = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(y)
    out = layers.Dense(3, name="dense")(y)
    model = keras.Model(inp, out, name="attention_options_model")
    save_model("model_attention_options", model, TOKENS8, seed=34,
               intermediate_layers=["mha_window_gate", "gqa_window_gate"])

# ------------- layer names that differ from the .keras file's own names
if wants("model_name_trap"):
    # The .keras format names layers by class (dense, dense_1, ...) in the
    # order of model.layers, NOT by layer.name. Here the user's names are
    # swapped against that order and the shapes are equal, so a loader that
    # maps `layers/dense/...` to the layer NAMED `dense` loads wrong weights
    # silently.
    print("model_name_trap")
    x_in = keras.Input(shape=(5, 8), name="features")
    h = layers.Dense(8, activation="tanh", name="dense_1")(x_in)
    h = layers.Dense(8, name="dense")(h)
    h = layers.LayerNormalization(name="layer_normalization_1")(h)
    h = layers.LayerNormalization(name="layer_normalization")(h)
    out = layers.Dense(2, name="head")(h)
    model = keras.Model(x_in, out, name="name_trap")
    save_model("model_name_trap", model, rs.randn(3, 5, 8).astype(np.float32),
               seed=35)

# ------------------------------- MHA causal, called positionally with key
if wants("model_mha_causal_positional"):
    print("model_mha_causal_positional")
    q_in = keras.Input(shape=(6, 8), name="query")
    m_in = keras.Input(shape=(9, 8), name="memory")
    a1 = layers.MultiHeadAttention(num_heads=2, key_dim=4,
                                   name="self_mha")(q_in, q_in, q_in,
                                                     use_causal_mask=True)
    a2 = layers.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3,
                                   name="cross_mha")(q_in, m_in, m_in,
                                                     use_causal_mask=True)
    y = layers.Add(name="add")([q_in, a1, a2])
    y = layers.LayerNormalization(epsilon=1e-5, name="layer_normalization")(y)
    out = layers.Dense(4, name="dense")(y)
    model = keras.Model([q_in, m_in], out, name="mha_causal_positional")
    save_model("model_mha_causal_positional", model,
               [rs.randn(2, 6, 8).astype(np.float32),
                rs.randn(2, 9, 8).astype(np.float32)], seed=25,
               intermediate_layers=["self_mha", "cross_mha"],
               note="Both are called with query, value, key positionally "
                    "(Keras 3 accepts only tensors as positional arguments: "
                    "mha(q, q, q, None, False, None, True) raises 'Only "
                    "input tensors may be passed as positional arguments'): "
                    "self_mha(q, q, q, use_causal_mask=True); cross_mha(q, m, m, "
                    "use_causal_mask=True) has T=6, S=9 (Keras's causal mask "
                    "is then row >= col on absolute indices).")

# ------------------------------------------- keras.ops on symbolic tensors
if wants("model_ops"):
    print("model_ops")
    x_in = keras.Input(shape=(5, 6), name="features")
    h = layers.Dense(6, name="dense_in")(x_in)
    mu = ops.mean(h, axis=-1, keepdims=True)
    c = ops.subtract(h, mu)
    var = ops.mean(ops.square(c), axis=-1, keepdims=True)
    n = ops.divide(c, ops.sqrt(ops.add(var, 1e-5)))
    g = ops.expand_dims(ops.mean(x_in, axis=1), 1)  # [B, 1, 6]
    y = ops.multiply(n, g)
    y = ops.add(y, h)
    out = layers.Dense(3, name="dense_out")(y)
    model = keras.Model(x_in, out, name="ops_model")
    save_model("model_ops", model, rs.randn(3, 5, 6).astype(np.float32),
               seed=26)

if wants("model_ops_shape"):
    print("model_ops_shape")
    x_in = keras.Input(shape=(4, 6), name="features")
    t = ops.transpose(x_in, (0, 2, 1))  # [B, 6, 4]
    r = ops.reshape(t, (-1, 24))
    d = layers.Dense(5, name="dense")(r)
    e = ops.expand_dims(d, 1)  # [B, 1, 5]
    cat = ops.concatenate([e, ops.multiply(e, 2.0), ops.exp(e)], axis=1)
    s = ops.sum(cat, axis=1)  # [B, 5]
    m = ops.max(cat, axis=1)
    sq = ops.squeeze(ops.expand_dims(s, -1), -1)
    z = ops.tanh(ops.add(sq, m))
    out = layers.Dense(2, name="dense_out")(ops.softmax(z, axis=-1))
    model = keras.Model(x_in, out, name="ops_shape_model")
    save_model("model_ops_shape", model, rs.randn(3, 4, 6).astype(np.float32),
               seed=27)

if wants("model_ops_masked"):
    # keras.ops on a masked sequence between Embedding(mask_zero) and MHA
    print("model_ops_masked")
    inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 8, mask_zero=True, name="embedding")(inp)
    x2 = ops.multiply(x, 2.0)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4,
                                  name="multi_head_attention")(x2, x2)
    y = ops.add(x2, a)
    y = layers.LayerNormalization(name="layer_normalization")(y)
    y = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(y)
    out = layers.Dense(3, name="dense")(y)
    model = keras.Model(inp, out, name="ops_masked_model")
    def checks(model, x, pred):
        # Same weights, Embedding without mask_zero: equal => the mask did
        # not get past ops.multiply.
        inp = keras.Input(shape=(8,), dtype="int32")
        e = layers.Embedding(20, 8, mask_zero=False)
        z = e(inp)
        z2 = ops.multiply(z, 2.0)
        mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)
        aa = mha(z2, z2)
        ln = layers.LayerNormalization()
        yy = layers.GlobalAveragePooling1D()(ln(ops.add(z2, aa)))
        dd = layers.Dense(3)
        twin = keras.Model(inp, dd(yy))
        twin.set_weights(model.get_weights())
        p2 = twin.predict(x, verbose=0)
        return {"max_abs(predictions - same model with mask_zero=False)":
                float(np.abs(p2 - pred).max())}

    save_model("model_ops_masked", model, TOKENS8, seed=28,
               intermediate_layers=["multi_head_attention"], checks=checks)

# ------------------------------------------------ attention scores outputs
if wants("model_mha_scores"):
    print("model_mha_scores")
    inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 6, mask_zero=True, name="embedding")(inp)
    a, s = layers.MultiHeadAttention(num_heads=2, key_dim=3,
                                     name="multi_head_attention")(
        x, x, return_attention_scores=True)
    y = layers.Add(name="add")([x, a])
    y = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(y)
    out = layers.Dense(2, name="dense")(y)
    model = keras.Model(inp, [out, s], name="mha_scores_model")
    save_model("model_mha_scores", model, TOKENS8, seed=29)

FAILURES = []
if wants("model_hub_encoder_scores"):
    # keras-hub's TransformerEncoder(return_attention_scores=True) inside a
    # functional model. Its compute_output_shape returns the input shape only,
    # so the symbolic call gives ONE tensor; the error is recorded.
    print("model_hub_encoder_scores")
    import traceback
    code = """inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
x = hub.TokenAndPositionEmbedding(20, 8, 8, mask_zero=True)(inp)
h, s = hub.TransformerEncoder(16, 2)(x, return_attention_scores=True)"""
    try:
        exec(code, {"keras": keras, "hub": hub})
        FAILURES.append({"what": "model_hub_encoder_scores", "code": code,
                         "error": None})
    except Exception as e:  # noqa
        FAILURES.append({
            "what": "keras-hub TransformerEncoder(..., "
                    "return_attention_scores=True) in a functional model",
            "code": code,
            "error": f"{type(e).__name__}: {e}",
        })
        print("  failed as recorded:", type(e).__name__, e)

# --------------------------------------------------- other architectures
if wants("model_masking_lstm_gru"):
    print("model_masking_lstm_gru")
    x_in = keras.Input(shape=(7, 4), name="sequence")
    x = layers.Masking(mask_value=0.0, name="masking")(x_in)
    x = layers.LSTM(6, return_sequences=True, name="lstm")(x)
    x = layers.GRU(5, name="gru")(x)
    out = layers.Dense(3, name="dense")(x)
    model = keras.Model(x_in, out, name="masking_lstm_gru")
    seq = rs.randn(3, 7, 4).astype(np.float32)
    seq[0, 5:] = 0.0   # trailing padding
    seq[1, 2] = 0.0    # a masked step in the middle
    seq[2, :] = seq[2, :]
    def checks(model, x, pred):
        # Does the GRU (recorded with "mask": null in the config) skip the
        # masked steps at predict time? Compare with the same GRU layer run
        # eagerly on sample 0 cut to its 5 real steps, and on all 7 steps.
        h = keras.Model(model.inputs, model.get_layer("lstm").output
                        ).predict(x, verbose=0)
        g = keras.Model(model.inputs, model.get_layer("gru").output
                        ).predict(x, verbose=0)
        gru = model.get_layer("gru")
        cut = npy(gru(h[0:1, :5]))
        full = npy(gru(h[0:1]))
        return {
            "sample 0: max_abs(gru output - GRU over its 5 real steps only)":
                float(np.abs(g[0:1] - cut).max()),
            "sample 0: max_abs(gru output - GRU over all 7 steps, no mask)":
                float(np.abs(g[0:1] - full).max()),
        }

    save_model("model_masking_lstm_gru", model, seq, seed=31,
               intermediate_layers=["lstm", "gru"], checks=checks)

if wants("model_embedding_bilstm"):
    print("model_embedding_bilstm")
    inp = keras.Input(shape=(10,), dtype="int32", name="tokens")
    x = layers.Embedding(30, 6, mask_zero=True, name="embedding")(inp)
    x = layers.Bidirectional(layers.LSTM(4, return_sequences=True),
                             name="bidirectional")(x)
    x = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(x)
    out = layers.Dense(2, name="dense")(x)
    model = keras.Model(inp, out, name="embedding_bilstm")
    def checks(model, x, pred):
        h = keras.Model(model.inputs, model.get_layer("bidirectional").output
                        ).predict(x, verbose=0)
        pooled = keras.Model(model.inputs, model.get_layer(
            "global_average_pooling1d").output).predict(x, verbose=0)
        m = (x != 0)[..., None]
        return {
            "max_abs(pooled - mean over unmasked steps)":
                float(np.abs(pooled - (h * m).sum(1) / m.sum(1)).max()),
            "max_abs(pooled - mean over all steps)":
                float(np.abs(pooled - h.mean(1)).max()),
        }

    save_model("model_embedding_bilstm", model, TOKENS10, seed=32,
               intermediate_layers=["bidirectional"], checks=checks)

if wants("model_conv1d"):
    print("model_conv1d")
    x_in = keras.Input(shape=(12, 4), name="signal")
    x = layers.Conv1D(6, 3, padding="same", activation="relu",
                      name="conv1d")(x_in)
    x = layers.MaxPooling1D(2, name="max_pooling1d")(x)
    x = layers.Conv1D(5, 3, padding="valid", name="conv1d_1")(x)
    x = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(x)
    out = layers.Dense(2, name="dense")(x)
    model = keras.Model(x_in, out, name="conv1d_model")
    save_model("model_conv1d", model, rs.randn(3, 12, 4).astype(np.float32),
               seed=33)

# --------- MultiHeadAttention deletes the Keras masks of its inputs (in place)
if wants("model_mha_clears_masks"):
    # Keras >= 3.8's MultiHeadAttention.call reads the query's mask and then
    # calls backend.set_keras_mask(t, None) on query, value and key. A layer
    # that takes the same tensor and runs after it sees no mask: here the
    # Add gets [no mask, mask] -> no mask (merge rule), so the second
    # attention runs with no query/value mask. `checks` records the masks each
    # layer's call received in model.predict.
    print("model_mha_clears_masks")
    inp = keras.Input(shape=(8,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 4, mask_zero=True, name="embedding")(inp)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=2,
                                  name="mha")(x, x)
    y = layers.Add(name="add")([x, a])
    b = layers.MultiHeadAttention(num_heads=2, key_dim=2,
                                  name="mha_after_add")(y, y)
    out = layers.Dense(3, name="dense")(b)
    model = keras.Model(inp, out, name="mha_clears_masks_model")

    def checks(model, x, pred):
        from keras.src.backend import get_keras_mask
        seen = {}
        originals = {}
        for n in ("mha", "add", "mha_after_add"):
            layer = model.get_layer(n)
            originals[n] = layer.call

            def spy(*args, _orig=layer.call, _n=n, **kwargs):
                first = args[0]
                ts = list(first) if isinstance(first, (list, tuple)) \
                    else list(args[:2])
                seen[_n] = {
                    "input_tensor_masks": [
                        None if get_keras_mask(t) is None
                        else npy(get_keras_mask(t)).astype(bool).tolist()
                        for t in ts],
                    **{k: (None if v is None
                           else npy(v).astype(bool).tolist())
                       for k, v in kwargs.items() if k.endswith("_mask")},
                }
                return _orig(*args, **kwargs)
            layer.call = spy
        model.predict(x, verbose=0)
        for n, c in originals.items():
            model.get_layer(n).call = c
        # The second attention called on y WITH the padding mask on y (what
        # a mask flow that ignores the deletion would give).
        e = model.get_layer("embedding")(x)
        m = npy(get_keras_mask(e))
        a2 = model.get_layer("mha")(e, e)
        y2 = model.get_layer("add")([e, a2])
        set_keras_mask(y2, ops.convert_to_tensor(m))
        p_masked = npy(model.get_layer("dense")(
            model.get_layer("mha_after_add")(y2, y2)))
        return {
            "masks received in model.predict": seen,
            "max_abs(predictions - same layers with the padding mask on "
            "mha_after_add's input)": float(np.abs(p_masked - pred).max()),
        }

    save_model("model_mha_clears_masks", model, TOKENS8, seed=35,
               intermediate_layers=["mha", "add", "mha_after_add"],
               checks=checks)

if FAILURES or not ONLY:
    dump(os.path.join(OUT, "keras_failures.json"), {
        "made_by": "scripts/keras-golden/gen_models.py (real Keras run)",
        "env": ENV_HUB,
        "failures": FAILURES,
    })
