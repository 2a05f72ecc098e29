/**
 * The one check of a layer's call options: any option a layer does not
 * declare in its static `callSignature.callOptions` is refused by name, with
 * the valid ones listed, so that a misspelled or Python-spelled option
 * (`retrunAttentionScores`, `return_attention_scores`, `causal`) is not
 * silently ignored.
 */
import { AttentionError } from '../../errors';
import type { WithCallSignature } from './call_signature';

/** Options tfjs itself passes to every layer's `apply`/`call`: always accepted. */
export const TFJS_CALL_OPTIONS = ['training', 'mask'] as const;

/**
 * Old or foreign spellings of an option, with the library's names for the
 * same thing (the layers' first, then the functions'): the first that is
 * valid where it is used is suggested.
 */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  causal: ['useCausalMask'],
  isCausal: ['useCausalMask', 'causal'],
  useCausalMask: ['causal'],
  returnScores: ['returnAttentionScores', 'returnWeights'],
  returnWeights: ['returnAttentionScores'],
  returnAttentionScores: ['returnWeights'],
  attnMask: ['attentionMask', 'mask'],
  attentionMask: ['mask'],
};

/** Optimal-string-alignment distance (edits, with adjacent transpositions). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The valid option a wrong one most likely meant, or undefined. */
export function suggestOption(given: string, valid: readonly string[]): string | undefined {
  const c = camel(given);
  if (c !== given && valid.includes(c)) return c;
  const syn = Object.prototype.hasOwnProperty.call(SYNONYMS, c) ? SYNONYMS[c].find((s) => valid.includes(s)) : undefined;
  if (syn !== undefined) return syn;
  let best: string | undefined;
  let bestD = Infinity;
  for (const v of valid) {
    const dd = distance(c.toLowerCase(), v.toLowerCase());
    if (dd < bestD) {
      best = v;
      bestD = dd;
    }
  }
  return bestD <= Math.max(1, Math.floor(c.length / 5)) ? best : undefined;
}

/** The call options a layer class accepts: tfjs's own, then those it declares. */
export function validCallOptions(cls: Partial<WithCallSignature>): readonly string[] | undefined {
  const declared = cls.callSignature?.callOptions;
  if (declared === undefined) return undefined;
  return [...TFJS_CALL_OPTIONS, ...declared.filter((o) => !(TFJS_CALL_OPTIONS as readonly string[]).includes(o))];
}

/**
 * Throws an AttentionError naming every option of `kwargs` that the layer's
 * class does not declare in `callSignature.callOptions` (`training` and
 * `mask`, which tfjs passes to every layer, are always valid), with the valid
 * ones listed and, where one is close, a suggestion. A class with no
 * declaration is not checked. Allocates nothing.
 *
 * @param layerName The layer's class name, for the message.
 * @param cls The layer's class (its constructor).
 * @param kwargs The call options given to `apply`.
 */
export function checkCallOptions(layerName: string, cls: Partial<WithCallSignature>, kwargs: object | undefined | null): void {
  if (kwargs === undefined || kwargs === null) return;
  const valid = validCallOptions(cls);
  if (valid === undefined) return;
  const unknown = Object.keys(kwargs).filter((k) => !valid.includes(k));
  if (unknown.length === 0) return;
  const described = unknown.map((k) => {
    const s = suggestOption(k, valid);
    return s === undefined ? k : `${k} (did you mean ${s}?)`;
  });
  throw new AttentionError(
    `${layerName}: expected call options among ${valid.join(', ')}, but got ${unknown.length === 1 ? 'the unknown option' : 'unknown options'} ${described.join(', ')}.`,
  );
}
