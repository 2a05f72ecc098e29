/**
 * Factories for the library's layers, in the style of `tf.layers.dense`:
 * `layers.selfAttention({ numHeads: 4, keyDim: 16 })`.
 */
import { AdditiveAttention, AdditiveAttentionArgs, Attention, AttentionArgs } from './attention';
import { ContentAttention, ContentAttentionArgs } from './content_attention';
import { MultiHeadAttention, MultiHeadAttentionArgs } from './multi_head_attention';
import { GroupedQueryAttention, GroupedQueryAttentionArgs } from './attention/grouped_query_attention';
import {
  PositionEmbedding,
  PositionEmbeddingArgs,
  RotaryEmbedding,
  RotaryEmbeddingArgs,
  SinePositionEncoding,
  SinePositionEncodingArgs,
} from './position_layers';
import { PositionalAttention, PositionalAttentionArgs, SelfAttention, SelfAttentionArgs } from './self_attention';
import { TokenAndPositionEmbedding, TokenAndPositionEmbeddingArgs } from './token_and_position_embedding';
import { TransformerDecoder, TransformerDecoderArgs } from './transformer_decoder';
import { TransformerEncoder, TransformerEncoderArgs } from './transformer_encoder';

export const layers = {
  selfAttention: (args: SelfAttentionArgs) => new SelfAttention(args),
  contentAttention: (args: ContentAttentionArgs = {}) => new ContentAttention(args),
  positionalAttention: (args: PositionalAttentionArgs) => new PositionalAttention(args),
  multiHeadAttention: (args: MultiHeadAttentionArgs) => new MultiHeadAttention(args),
  groupedQueryAttention: (args: GroupedQueryAttentionArgs) => new GroupedQueryAttention(args),
  attention: (args: AttentionArgs = {}) => new Attention(args),
  additiveAttention: (args: AdditiveAttentionArgs = {}) => new AdditiveAttention(args),
  sinePositionEncoding: (args: SinePositionEncodingArgs = {}) => new SinePositionEncoding(args),
  positionEmbedding: (args: PositionEmbeddingArgs) => new PositionEmbedding(args),
  rotaryEmbedding: (args: RotaryEmbeddingArgs = {}) => new RotaryEmbedding(args),
  transformerEncoder: (args: TransformerEncoderArgs) => new TransformerEncoder(args),
  transformerDecoder: (args: TransformerDecoderArgs) => new TransformerDecoder(args),
  tokenAndPositionEmbedding: (args: TokenAndPositionEmbeddingArgs) => new TokenAndPositionEmbedding(args),
};
