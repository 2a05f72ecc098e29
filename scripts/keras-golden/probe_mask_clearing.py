"""Which blocks delete the Keras mask of their input tensor (prints, writes nothing).

usage (env as run.sh): KERAS_BACKEND=torch HUB_SRC=/work/src-keras-hub \
  PYTHONPATH=/work/src-keras:scripts/keras-golden python probe_mask_clearing.py

Builds Embedding(mask_zero) -> block -> Add([x, block(x)]) and records, in
model.predict, whether each Add input still carries a Keras mask. Output with
Keras 3.16 (3422977a5e) and keras-hub 71453d08f: post-norm TransformerEncoder
and MultiHeadAttention give [None, mask]; pre-norm TransformerEncoder and both
TransformerDecoders give [mask, mask]."""
import os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras
from keras import layers
from keras.src.backend import get_keras_mask
from hub_import import import_hub_layers
hub = import_hub_layers(os.environ["HUB_SRC"])
x = np.array([[3, 5, 0, 0], [1, 2, 3, 4]], dtype=np.int32)
def probe(name, make):
    inp = keras.Input(shape=(4,), dtype="int32")
    e = layers.Embedding(10, 4, mask_zero=True)(inp)
    blk = make()
    o = blk(e)
    add = layers.Add()
    y = add([e, o])
    m = keras.Model(inp, y)
    seen = {}
    orig = add.call
    def spy(inputs, _o=orig, **k):
        seen["add"] = [None if get_keras_mask(t) is None else "mask" for t in inputs]
        return _o(inputs, **k)
    add.call = spy
    m.predict(x, verbose=0)
    print(name, seen)
probe("TransformerEncoder post-norm", lambda: hub.TransformerEncoder(8, 2))
probe("TransformerEncoder pre-norm", lambda: hub.TransformerEncoder(8, 2, normalize_first=True))
probe("TransformerDecoder post-norm", lambda: hub.TransformerDecoder(8, 2))
probe("TransformerDecoder pre-norm", lambda: hub.TransformerDecoder(8, 2, normalize_first=True))
probe("MultiHeadAttention (control)", lambda: (lambda l: (lambda t: l(t, t)))(layers.MultiHeadAttention(2, 2)))
