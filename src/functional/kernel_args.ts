/**
 * The two layer arguments that reach the planner (`implementation` and
 * `memoryBudget`), shared by every attention layer that computes through
 * `scaledDotProductAttention`: their docs, their checks and their config.
 */
import { AttentionError } from '../errors';
import { AttentionImplementation, IMPLEMENTATIONS } from '../kernels/contract';

/** Layer arguments choosing how the attention is computed. */
export interface KernelArgs {
  /**
   * How the attention is computed, as `scaledDotProductAttention`'s
   * `implementation`: `'auto'`, `'naive'`, `'blocked'`, `'chunked'`,
   * `'fused'` or `'simd'`. Every choice gives the same result within float32
   * rounding. Default `'auto'`.
   */
  implementation?: AttentionImplementation;
  /**
   * Bytes of float32 attention scores that may exist at once, forward and
   * backward, as `scaledDotProductAttention`'s `memoryBudget`. Default:
   * `DEFAULT_MEMORY_BUDGET` (256 MiB).
   */
  memoryBudget?: number | null;
}

/** Checked kernel arguments. */
export interface KernelSettings {
  implementation: AttentionImplementation;
  memoryBudget: number | undefined;
}

/** Checks `implementation` and `memoryBudget` of a layer's arguments. */
export function checkKernelArgs(layer: string, args: KernelArgs | undefined): KernelSettings {
  const impl = args?.implementation ?? 'auto';
  if (!IMPLEMENTATIONS.includes(impl)) {
    throw new AttentionError(
      `${layer}: expected implementation to be one of ${IMPLEMENTATIONS.map((i) => `'${i}'`).join(', ')}, but got implementation=${JSON.stringify(impl)}.`,
    );
  }
  const mb = args?.memoryBudget ?? undefined;
  if (mb !== undefined && (typeof mb !== 'number' || !(mb > 0) || !Number.isFinite(mb))) {
    throw new AttentionError(`${layer}: expected memoryBudget to be a positive number of bytes, but got memoryBudget=${String(mb)}.`);
  }
  return { implementation: impl, memoryBudget: mb };
}

/** The config entries of checked kernel arguments. */
export function kernelConfig(s: KernelSettings): { implementation: AttentionImplementation; memoryBudget: number | null } {
  return { implementation: s.implementation, memoryBudget: s.memoryBudget ?? null };
}
