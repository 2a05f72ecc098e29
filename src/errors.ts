/**
 * The library's error class: one voice for every message.
 *
 * Messages read `<function or Layer>: expected <what was expected>, but got
 * <what came>.` with the caller's own shapes and values, so that a user can
 * tell from the message alone which argument to fix.
 */

/**
 * An error raised by tfjs-attention for bad input, an unsupported option or a
 * malformed file. `instanceof AttentionError` tells the library's own
 * refusals from failures inside tfjs.
 */
export class AttentionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'AttentionError';
    if (options?.cause !== undefined) {
      (this as { cause?: unknown }).cause = options.cause;
    }
  }
}
