/**
 * heatmapSvg: render a [T, S] attention-weight matrix as a standalone SVG string.
 */
import * as tf from '@tensorflow/tfjs';

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
}

/** Viridis stops (low value = dark purple, high value = yellow). */
const STOPS: Array<[number, number, number]> = [
  [68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37],
];

/** Colour of t in [0, 1] on the viridis-like scale, as #rrggbb. */
export function heatmapColor(t: number): string {
  const c = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(c));
  const f = c - i;
  const hex = (k: number) => {
    const v = Math.round(STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f);
    return v.toString(16).padStart(2, '0');
  };
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(3).replace(/\.?0+$/, '');
}

/**
 * Renders a [T, S] weight matrix (rows = queries, columns = keys) as an SVG
 * string: one `<rect>` per cell coloured on a viridis-like scale (dark = low,
 * yellow = high), a `<title>` tooltip per cell, axis labels, a legend with the
 * min and max of the range, and an optional title. Reads the tensor with
 * arraySync; creates no tensors.
 */
export function heatmapSvg(weights: tf.Tensor | number[][], options: HeatmapOptions = {}): string {
  let rows: number[][];
  if (weights instanceof tf.Tensor) {
    if (weights.rank !== 2) {
      throw new Error(`heatmapSvg: expected weights of rank 2 [T, S], but got shape [${weights.shape.join(',')}]`);
    }
    rows = weights.arraySync() as number[][];
  } else {
    if (!Array.isArray(weights) || !weights.every((r) => Array.isArray(r) && r.every((v) => typeof v === 'number'))) {
      throw new Error('heatmapSvg: expected weights of rank 2 [T, S] (a Tensor2D or number[][]), but got a different nesting');
    }
    rows = weights;
  }
  const T = rows.length;
  const S = T > 0 ? rows[0].length : 0;
  if (T === 0 || S === 0) {
    throw new Error(`heatmapSvg: expected a non-empty matrix, but got shape [${T},${S}]`);
  }
  rows.forEach((r, i) => {
    if (r.length !== S) {
      throw new Error(`heatmapSvg: expected every row to have ${S} values, but row ${i} has ${r.length}`);
    }
    r.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new Error(`heatmapSvg: expected finite values, but got ${v} at [${i},${j}]`);
    });
  });
  const rowLabels = options.rowLabels ?? rows.map((_, i) => String(i));
  const colLabels = options.colLabels ?? rows[0].map((_, j) => String(j));
  if (rowLabels.length !== T) throw new Error(`heatmapSvg: expected ${T} rowLabels, but got ${rowLabels.length}`);
  if (colLabels.length !== S) throw new Error(`heatmapSvg: expected ${S} colLabels, but got ${colLabels.length}`);
  let lo: number;
  let hi: number;
  if (options.range) {
    [lo, hi] = options.range;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
      throw new Error(`heatmapSvg: expected range [lo, hi] with finite lo <= hi, but got [${lo},${hi}]`);
    }
  } else {
    const flat = rows.flat();
    lo = Math.min(...flat);
    hi = Math.max(...flat);
  }
  const span = hi - lo;
  const norm = (v: number) => (span === 0 ? 0.5 : (v - lo) / span);

  const cell = Math.max(8, Math.min(40, Math.floor(480 / Math.max(T, S))));
  const font = Math.max(7, Math.min(12, Math.round(cell * 0.7)));
  const maxLen = (ls: string[]) => Math.max(...ls.map((l) => l.length));
  const rotate = maxLen(colLabels) * font * 0.6 > cell;
  const left = Math.ceil(maxLen(rowLabels) * font * 0.6) + 10;
  const titleH = options.title ? 24 : 0;
  const colH = rotate ? Math.ceil(maxLen(colLabels) * font * 0.6) + 10 : font + 8;
  const top = titleH + colH;
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
