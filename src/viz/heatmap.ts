/**
 * heatmapSvg: render attention weights as a standalone SVG string: a `[T, S]`
 * matrix, or one batch item (and head) of the `[B, T, S]` or `[B, N, T, S]`
 * scores a layer returns.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError } from '../errors';

/** Options for {@link heatmapSvg}. */
export interface HeatmapOptions {
  /** Labels of the rows (queries), one per row. Default: the indices 0..T-1. */
  rowLabels?: string[];
  /** Labels of the columns (keys), one per column. Default: the indices 0..S-1. */
  colLabels?: string[];
  /** Title drawn above the heatmap. Default: none. */
  title?: string;
  /** Value range mapped to the colour scale. Default: [min, max] of the data. */
  range?: [number, number];
  /** For `[B, T, S]` and `[B, N, T, S]` scores: which batch item. Default 0. */
  batch?: number;
  /** For `[B, N, T, S]` scores: which head. Default 0. */
  head?: number;
  /** Name of the row axis, drawn along it. Default `'query'`; `''` draws none. */
  queryAxisLabel?: string;
  /** Name of the column axis, drawn along it. Default `'key'`; `''` draws none. */
  keyAxisLabel?: string;
}

/** Tick labels: the indices by default, else an array of `n` strings (numbers are printed). */
function labels(name: 'rowLabels' | 'colLabels', given: unknown, n: number): string[] {
  if (given === undefined) return Array.from({ length: n }, (_, i) => String(i));
  if (!Array.isArray(given)) {
    throw new AttentionError(`heatmapSvg: expected \`${name}\` to be an array of ${n} strings, but got ${given === null ? 'null' : typeof given}.`);
  }
  if (given.length !== n) throw new AttentionError(`heatmapSvg: expected ${n} ${name}, but got ${given.length}`);
  return given.map((l: unknown, i) => {
    if (typeof l !== 'string' && typeof l !== 'number') {
      throw new AttentionError(`heatmapSvg: expected \`${name}[${i}]\` to be a string, but got ${l === null ? 'null' : typeof l}.`);
    }
    return String(l);
  });
}

function pick(name: 'batch' | 'head', v: number | undefined, size: number, shape: number[]): number {
  const i = v ?? 0;
  if (!Number.isInteger(i) || i < 0 || i >= size) {
    throw new AttentionError(`heatmapSvg: expected ${name} to be an integer in [0, ${size}) for scores [${shape.join(',')}], but got ${name}=${String(v)}.`);
  }
  return i;
}

/** The `[T, S]` rows of a rank-2, -3 (`[B, T, S]`) or -4 (`[B, N, T, S]`) tensor, for the chosen batch item and head. */
function rowsOf(weights: tf.Tensor, options: HeatmapOptions): number[][] {
  if (weights.isDisposed) throw new AttentionError('heatmapSvg: expected a live tensor, but got a disposed one.');
  const shape = weights.shape;
  if (shape.length < 2 || shape.length > 4) {
    throw new AttentionError(
      `heatmapSvg: expected weights [T, S], scores [B, T, S] or scores [B, N, T, S], but got shape [${shape.join(',')}].`,
    );
  }
  if (shape.length < 4 && options.head !== undefined) {
    throw new AttentionError(`heatmapSvg: expected head only for [B, N, T, S] scores, but got head=${options.head} for shape [${shape.join(',')}].`);
  }
  if (shape.length === 2 && options.batch !== undefined) {
    throw new AttentionError(`heatmapSvg: expected batch only for [B, T, S] or [B, N, T, S] scores, but got batch=${options.batch} for shape [${shape.join(',')}].`);
  }
  const [T, S] = shape.slice(-2);
  checkCells(T, S);
  if (weights.dtype === 'string' || weights.dtype === 'complex64') {
    throw new AttentionError(`heatmapSvg: expected numeric weights, but got a tensor of dtype ${weights.dtype}.`);
  }
  let offset = 0;
  if (shape.length >= 3) {
    const b = pick('batch', options.batch, shape[0], shape);
    const n = shape.length === 4 ? pick('head', options.head, shape[1], shape) : 0;
    offset = shape.length === 4 ? (b * shape[1] + n) * T * S : b * T * S;
  }
  const data = weights.dataSync();
  return Array.from({ length: T }, (_, i) => Array.from(data.subarray(offset + i * S, offset + (i + 1) * S), Number));
}

/** Viridis stops (low value = dark purple, high value = yellow). */
const STOPS: Array<[number, number, number]> = [
  [68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37],
];

/** Colour of t in [0, 1] on the viridis-like scale, as #rrggbb. */
export function heatmapColor(t: number): string {
  const c = (Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t))) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(c));
  const f = c - i;
  const hex = (k: number) => {
    const v = Math.round(STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f);
    return v.toString(16).padStart(2, '0');
  };
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

/**
 * Most cells a heatmap draws: 2^18 (512 × 512). Each cell is a `<rect>` of
 * about 150 characters, so larger matrices would build strings of tens of
 * megabytes (and, far larger, exhaust memory) for a picture no one can read.
 */
export const MAX_HEATMAP_CELLS = 2 ** 18;

function checkCells(T: number, S: number): void {
  if (T * S > MAX_HEATMAP_CELLS) {
    throw new AttentionError(
      `heatmapSvg: expected at most ${MAX_HEATMAP_CELLS} cells (for example 512 × 512), but got [${T},${S}] = ${T * S}; slice the weights first.`,
    );
  }
}

/** Text for XML: escaped, with characters XML 1.0 cannot hold (controls, lone surrogates, U+FFFE/U+FFFF) replaced by U+FFFD. */
function esc(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(3).replace(/\.?0+$/, '');
}

/**
 * Renders attention weights (rows = queries, columns = keys) as an SVG
 * string: one `<rect>` per cell coloured on a viridis-like scale (dark = low,
 * yellow = high), a `<title>` tooltip per cell, tick labels, the axis names
 * (query, key), a legend with the min and max of the range, and an optional
 * title. Reads the tensor with dataSync; creates no tensors.
 *
 * @param weights `[T, S]` (a tensor or `number[][]`), or the scores a layer
 *   returns: `[B, T, S]` (Attention, ContentAttention) or `[B, N, T, S]`
 *   (MultiHeadAttention, SelfAttention), drawn for `options.batch` (and
 *   `options.head`).
 * @throws AttentionError for another rank, a batch or head out of range,
 *   non-finite values, or label counts that do not match.
 *
 * @example
 * ```ts
 * const [, scores] = mha.callWithScores([q, v]);          // scores [B, N, T, S]
 * const svg = heatmapSvg(scores, { batch: 0, head: 1 });
 * ```
 */
export function heatmapSvg(weights: tf.Tensor | number[][], options: HeatmapOptions = {}): string {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new AttentionError(`heatmapSvg: expected \`options\` to be an object, but got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}.`);
  }
  let rows: number[][];
  if (weights instanceof tf.Tensor) {
    rows = rowsOf(weights, options);
  } else {
    if (!Array.isArray(weights) || !weights.every((r) => Array.isArray(r))) {
      throw new AttentionError('heatmapSvg: expected weights of rank 2 [T, S] (a Tensor2D or number[][]), but got a different nesting.');
    }
    checkCells(weights.length, weights.length > 0 ? (weights[0] as unknown[]).length : 0);
    if (!weights.every((r) => r.every((v) => typeof v === 'number'))) {
      throw new AttentionError('heatmapSvg: expected weights of rank 2 [T, S] (a Tensor2D or number[][]), but got a different nesting.');
    }
    rows = weights;
  }
  const T = rows.length;
  const S = T > 0 ? rows[0].length : 0;
  if (T === 0 || S === 0) {
    throw new AttentionError(`heatmapSvg: expected a non-empty matrix, but got shape [${T},${S}]`);
  }
  rows.forEach((r, i) => {
    if (r.length !== S) {
      throw new AttentionError(`heatmapSvg: expected every row to have ${S} values, but row ${i} has ${r.length}`);
    }
    r.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new AttentionError(`heatmapSvg: expected finite values, but got ${v} at [${i},${j}]`);
    });
  });
  const rowLabels = labels('rowLabels', options.rowLabels, T);
  const colLabels = labels('colLabels', options.colLabels, S);
  for (const name of ['title', 'queryAxisLabel', 'keyAxisLabel'] as const) {
    const v = options[name];
    if (v !== undefined && typeof v !== 'string') {
      throw new AttentionError(`heatmapSvg: expected \`${name}\` to be a string, but got ${v === null ? 'null' : typeof v}.`);
    }
  }
  let lo: number;
  let hi: number;
  if (options.range !== undefined) {
    const r: unknown = options.range;
    if (!Array.isArray(r) || r.length !== 2 || !Number.isFinite(r[0]) || !Number.isFinite(r[1]) || r[0] > r[1]) {
      throw new AttentionError(`heatmapSvg: expected range [lo, hi] with finite lo <= hi, but got ${Array.isArray(r) ? `[${r.map(String).join(',')}]` : String(r)}`);
    }
    [lo, hi] = r as [number, number];
  } else {
    // A loop, not Math.min(...flat): spreading hundreds of thousands of arguments overflows the stack.
    lo = Infinity;
    hi = -Infinity;
    for (const r of rows) {
      for (const v of r) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  // Halved so that a range as wide as [-1.7e308, 1.7e308] does not overflow to Infinity.
  const span = hi / 2 - lo / 2;
  const norm = (v: number) => (span === 0 ? 0.5 : (v / 2 - lo / 2) / span);

  const cell = Math.max(8, Math.min(40, Math.floor(480 / Math.max(T, S))));
  const font = Math.max(7, Math.min(12, Math.round(cell * 0.7)));
  const maxLen = (ls: string[]) => ls.reduce((m, l) => Math.max(m, l.length), 0);
  const rotate = maxLen(colLabels) * font * 0.6 > cell;
  const queryAxis = options.queryAxisLabel ?? 'query';
  const keyAxis = options.keyAxisLabel ?? 'key';
  const axisW = queryAxis ? 18 : 0;
  const left = axisW + Math.ceil(maxLen(rowLabels) * font * 0.6) + 10;
  const titleH = options.title ? 24 : 0;
  const keyAxisH = keyAxis ? 18 : 0;
  const colH = rotate ? Math.ceil(maxLen(colLabels) * font * 0.6) + 10 : font + 8;
  const top = titleH + keyAxisH + colH;
  const gridW = S * cell;
  const gridH = T * cell;
  const legendX = left + gridW + 16;
  const width = legendX + 16 + 60;
  const height = top + gridH + 10;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif">`);
  out.push('<defs><linearGradient id="heatmap-legend" x1="0" y1="1" x2="0" y2="0">');
  STOPS.forEach((_, k) => {
    const t = k / (STOPS.length - 1);
    out.push(`<stop offset="${t}" stop-color="${heatmapColor(t)}"/>`);
  });
  out.push('</linearGradient></defs>');
  if (options.title) {
    out.push(`<text class="title" x="${left}" y="16" font-size="14">${esc(options.title)}</text>`);
  }
  if (keyAxis) {
    out.push(`<text class="key-axis" x="${left + gridW / 2}" y="${titleH + 13}" font-size="12" text-anchor="middle">${esc(keyAxis)}</text>`);
  }
  if (queryAxis) {
    const y = top + gridH / 2;
    out.push(`<text class="query-axis" x="13" y="${y}" font-size="12" text-anchor="middle" transform="rotate(-90 13 ${y})">${esc(queryAxis)}</text>`);
  }
  out.push('<g class="col-labels">');
  colLabels.forEach((l, j) => {
    const x = left + j * cell + cell / 2;
    const y = top - 4;
    out.push(rotate
      ? `<text x="${x}" y="${y}" font-size="${font}" transform="rotate(-90 ${x} ${y})">${esc(l)}</text>`
      : `<text x="${x}" y="${y}" font-size="${font}" text-anchor="middle">${esc(l)}</text>`);
  });
  out.push('</g><g class="row-labels">');
  rowLabels.forEach((l, i) => {
    out.push(`<text x="${left - 4}" y="${top + i * cell + cell / 2}" font-size="${font}" ` +
      `text-anchor="end" dominant-baseline="middle">${esc(l)}</text>`);
  });
  out.push('</g><g class="cells">');
  rows.forEach((r, i) => r.forEach((v, j) => {
    out.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" ` +
      `fill="${heatmapColor(norm(v))}"><title>query '${esc(rowLabels[i])}' → key '${esc(colLabels[j])}': ` +
      `${v.toFixed(3)}</title></rect>`);
  }));
  out.push('</g><g class="legend">');
  out.push(`<rect x="${legendX}" y="${top}" width="16" height="${gridH}" fill="url(#heatmap-legend)"/>`);
  out.push(`<text class="legend-max" x="${legendX + 20}" y="${top + font}" font-size="${font}">${fmt(hi)}</text>`);
  out.push(`<text class="legend-min" x="${legendX + 20}" y="${top + gridH}" font-size="${font}">${fmt(lo)}</text>`);
  out.push('</g></svg>');
  return out.join('\n');
}
