/**
 * tfjs-attention: attention for TensorFlow.js.
 *
 * The one public surface of the package. Grouped, named re-exports.
 */

// The article's functions, exactly.
export { attention, model } from './seed';

// The library's error class.
export { AttentionError } from './errors';

// Backend choice.
export { initBackend, BACKENDS, BACKEND_ENV_VAR } from './backend';
export type { BackendName } from './backend';

// Functional core.
export { scaledDotProductAttention, attentionWeights } from './functional/scaled_dot_product';
export { DEFAULT_MEMORY_BUDGET } from './functional/scaled_dot_product';
export type { AttentionOptions, ScaledDotProductOptions, AttentionResult, AttentionImplementation } from './functional/scaled_dot_product';
export { additiveAttention } from './ops/additive';
export type { AdditiveAttentionOptions } from './ops/additive';
export { causalMask, paddingMask, combineMasks } from './ops/masks';
export type { TensorInput } from './ops/checks';

// The fused WebAssembly SIMD kernel (issue 12): status, threads, direct use.
export { wasmKernelStatus, wasmKernelReady, wasmFusedAttention, wasmFusedAttentionAsync, setWasmKernelThreads, terminateWasmKernelThreads } from './kernels/wasm';
export type { WasmKernelStatus, FusedKernelInput } from './kernels/wasm';

// Layers (tf.layers custom layers, registered for serialization).
export { layers } from './layers';
export { SelfAttention, PositionalAttention } from './layers/self_attention';
export type { SelfAttentionArgs, PositionalAttentionArgs, PositionKind } from './layers/self_attention';
export { ContentAttention } from './layers/content_attention';
export type { ContentAttentionArgs, ContentScore } from './layers/content_attention';
export { MultiHeadAttention } from './layers/multi_head_attention';
export type { AttentionCallOptions, CausalCallOptions, MultiHeadAttentionCallOptions } from './layers/scoring_layer';
export type { MultiHeadAttentionArgs } from './layers/multi_head_attention';
export { GroupedQueryAttention, GroupQueryAttention } from './layers/attention/grouped_query_attention';
export type { GroupedQueryAttentionArgs } from './layers/attention/grouped_query_attention';
export { Attention, AdditiveAttention } from './layers/attention';
export type { AttentionArgs, AdditiveAttentionArgs } from './layers/attention';
export { SinePositionEncoding, PositionEmbedding, RotaryEmbedding } from './layers/position_layers';
export type { SinePositionEncodingArgs, PositionEmbeddingArgs, RotaryEmbeddingArgs } from './layers/position_layers';
export { TransformerEncoder } from './layers/transformer_encoder';
export type { TransformerEncoderArgs } from './layers/transformer_encoder';
export { TransformerDecoder } from './layers/transformer_decoder';
export type { TransformerDecoderArgs } from './layers/transformer_decoder';
export type { TransformerBlockArgs } from './layers/transformer_common';
export { TokenAndPositionEmbedding } from './layers/token_and_position_embedding';
export type { TokenAndPositionEmbeddingArgs } from './layers/token_and_position_embedding';

// Position maths.
export { alibiSlopes, relativePositionBucket } from './ops/position';

// Saving and loading.
export { fileSystem } from './io/file_system';
export { httpLoader, DEFAULT_HTTP_TIMEOUT_MS } from './io/http';
export type { HttpLoadOptions } from './io/http';
export { loadKerasModel } from './io/keras';
export type { LoadKerasModelOptions } from './io/keras';
export { normaliseKerasTopology, KerasFormatError } from './io/keras_format';
export type { NormaliseOptions } from './io/keras_format';
// What a layer class declares for the Keras loader (replaces KERAS_TENSOR_KWARGS).
export { callSignatureOf } from './layers/base/call_signature';
export type { CallSignature } from './layers/base/call_signature';
export { kerasWeightPathsOf } from './layers/base/keras_weight_paths';
export type { KerasWeightPaths } from './layers/base/keras_weight_paths';
export { KerasOperation, KERAS_OPERATIONS } from './layers/keras_operation';
export type { KerasOperationArgs } from './layers/keras_operation';
export { MaskedGlobalAveragePooling1D } from './layers/pooling';
export type { MaskedGlobalAveragePooling1DArgs } from './layers/pooling';

// Visualisation.
export { heatmapSvg } from './viz/heatmap';
export type { HeatmapOptions } from './viz/heatmap';
