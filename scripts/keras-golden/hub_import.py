"""Imports keras-hub's modeling layers straight from a source checkout.

keras_hub/__init__.py imports the whole keras-hub API (models, tokenizers,
tensorflow-text ...). We only need the layers in keras_hub/src/layers/modeling,
so a bare package module is registered with __path__ pointing at the source and
the three layer modules are imported from there. Their @keras_hub_export
decorators still register them as serializable `keras_hub>...` objects.
"""
import os
import sys
import types


def import_hub_layers(hub_src):
    if "keras_hub" not in sys.modules:
        pkg = types.ModuleType("keras_hub")
        pkg.__path__ = [os.path.join(hub_src, "keras_hub")]
        sys.modules["keras_hub"] = pkg
    from keras_hub.src.layers.modeling.token_and_position_embedding import (
        TokenAndPositionEmbedding,
    )
    from keras_hub.src.layers.modeling.transformer_decoder import (
        TransformerDecoder,
    )
    from keras_hub.src.layers.modeling.transformer_encoder import (
        TransformerEncoder,
    )
    from keras_hub.src.version import __version__

    return types.SimpleNamespace(
        TokenAndPositionEmbedding=TokenAndPositionEmbedding,
        TransformerEncoder=TransformerEncoder,
        TransformerDecoder=TransformerDecoder,
        version=__version__,
    )
