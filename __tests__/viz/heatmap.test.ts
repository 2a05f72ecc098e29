import * as tf from '@tensorflow/tfjs';
import { heatmapSvg } from '../../src/viz/heatmap';

/** Minimal well-formedness check: tags balance. */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === '/') continue;
    if (m[1] === '/') { if (stack.pop() !== m[2]) return false; } else stack.push(m[2]);
  }
  return stack.length === 0;
}

const cells = (svg: string) => [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="\d+" height="\d+" fill="(#[0-9a-f]{6})"><title>([^<]*)<\/title>/g)];
const lum = (hex: string) => parseInt(hex.slice(1, 3), 16) + parseInt(hex.slice(3, 5), 16) + parseInt(hex.slice(5, 7), 16);

describe('heatmapSvg', () => {
  it('draws one cell per entry, well-formed, with tooltips, labels, legend', () => {
    const w = [[0.1, 0.9, 0.5], [0.3, 0.2, 0.7]];
    const svg = heatmapSvg(w, { rowLabels: ['a', 'b'], colLabels: ['x', 'y', '<z&>'], title: 'T & "t"' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(wellFormed(svg)).toBe(true);
    const cs = cells(svg);
    expect(cs).toHaveLength(6);
    expect(cs[1][2]).toBe("query 'a' → key 'y': 0.900");
    expect(svg).toContain('&lt;z&amp;&gt;');
    expect(svg).not.toContain('<z&>');
    expect(svg).toContain('T &amp; &quot;t&quot;');
    expect(svg).toMatch(/class="legend-min"[^>]*>0.1</);
    expect(svg).toMatch(/class="legend-max"[^>]*>0.9</);
    expect(svg).toContain('linearGradient');
  });

  it('colours are monotone in value and the max gets the end colour', () => {
    const w = [[0, 1, 2, 3, 4, 5, 6, 7]];
    const cs = cells(heatmapSvg(w));
    const ls = cs.map((c) => lum(c[1]));
    for (let i = 1; i < ls.length; i++) expect(ls[i]).toBeGreaterThan(ls[i - 1]);
    expect(cs[7][1]).toBe('#fde725');
    expect(cs[0][1]).toBe('#440154');
  });

  it('uses default index labels and the given range', () => {
    const svg = heatmapSvg(tf.tensor2d([[0.5, 0.5]]), { range: [0, 1] });
    expect(cells(svg)[0][2]).toBe("query '0' → key '0': 0.500");
    expect(svg).toMatch(/class="legend-max"[^>]*>1</);
    expect(svg).toMatch(/class="legend-min"[^>]*>0</);
  });

  it('handles 64x64 and rotates long column labels', () => {
    const w = Array.from({ length: 64 }, (_, i) => Array.from({ length: 64 }, (_, j) => (i * 64 + j) / 4096));
    const svg = heatmapSvg(w, { colLabels: w[0].map((_, j) => `token_${j}`) });
    expect(cells(svg)).toHaveLength(4096);
    expect(svg).toContain('rotate(-90');
    expect(wellFormed(svg)).toBe(true);
  });

  it('throws on wrong rank', () => {
    const t = tf.zeros([1, 2, 3, 4, 5]);
    expect(() => heatmapSvg(t)).toThrow(/^heatmapSvg: expected weights \[T, S\], scores \[B, T, S\] or scores \[B, N, T, S\], but got shape \[1,2,3,4,5\]\.$/);
    t.dispose();
    expect(() => heatmapSvg(tf.zeros([4]))).toThrow(/but got shape \[4\]/);
    expect(() => heatmapSvg([1, 2] as unknown as number[][])).toThrow(/heatmapSvg: expected weights of rank 2/);
  });
  it('throws on NaN / Infinity naming the position', () => {
    expect(() => heatmapSvg([[0, 1], [NaN, 2]])).toThrow(/expected finite values, but got NaN at \[1,0\]/);
    expect(() => heatmapSvg([[0, Infinity]])).toThrow(/but got Infinity at \[0,1\]/);
  });
  it('throws on label count mismatch', () => {
    expect(() => heatmapSvg([[1], [2], [3], [4], [5]], { rowLabels: ['a', 'b', 'c', 'd'] }))
      .toThrow('heatmapSvg: expected 5 rowLabels, but got 4');
    expect(() => heatmapSvg([[1, 2]], { colLabels: ['a'] })).toThrow('heatmapSvg: expected 2 colLabels, but got 1');
  });
  it('throws on empty matrix, ragged rows, bad range', () => {
    expect(() => heatmapSvg([])).toThrow(/expected a non-empty matrix, but got shape \[0,0\]/);
    expect(() => heatmapSvg([[1, 2], [3]])).toThrow(/row 1 has 1/);
    expect(() => heatmapSvg([[1]], { range: [1, 0] })).toThrow(/expected range/);
  });
  describe('scores of a layer', () => {
    // [B=2, N=3, T=2, S=3], value = 100·b + 10·n + 3·i + j: each slice is recognisable.
    const data = Array.from({ length: 2 * 3 * 2 * 3 }, (_, k) => {
      const [b, n, i, j] = [Math.floor(k / 18), Math.floor(k / 6) % 3, Math.floor(k / 3) % 2, k % 3];
      return 100 * b + 10 * n + 3 * i + j;
    });
    const slice = (b: number, n: number) => [0, 1].map((i) => [0, 1, 2].map((j) => 100 * b + 10 * n + 3 * i + j));

    it.each([[0, 0], [1, 2], [0, 1]])('draws batch %i, head %i of [B, N, T, S] as that [T, S] matrix', (b, n) => {
      const scores = tf.tensor4d(data, [2, 3, 2, 3]);
      expect(heatmapSvg(scores, { batch: b, head: n })).toBe(heatmapSvg(slice(b, n)));
      scores.dispose();
    });

    it('draws batch b of [B, T, S] (head 0 of N = 1 equals it)', () => {
      const scores = tf.tensor3d(data.slice(0, 12), [2, 2, 3]);
      expect(heatmapSvg(scores, { batch: 1 })).toBe(heatmapSvg([[10, 11, 12], [13, 14, 15]]));
      expect(heatmapSvg(scores)).toBe(heatmapSvg(slice(0, 0)));
      scores.dispose();
    });

    it('labels the axes query and key, or as asked', () => {
      const svg = heatmapSvg([[0, 1]]);
      expect(svg).toMatch(/<text class="key-axis"[^>]*>key<\/text>/);
      expect(svg).toMatch(/<text class="query-axis"[^>]*rotate\(-90[^>]*>query<\/text>/);
      const named = heatmapSvg([[0, 1]], { queryAxisLabel: 'output word', keyAxisLabel: 'input word' });
      expect(named).toMatch(/>output word<\/text>/);
      expect(named).toMatch(/>input word<\/text>/);
      expect(heatmapSvg([[0, 1]], { queryAxisLabel: '', keyAxisLabel: '' })).not.toMatch(/axis/);
      expect(wellFormed(named)).toBe(true);
    });

    it('refuses a batch or head out of range, or one the shape does not have', () => {
      const s4 = tf.zeros([2, 3, 2, 2]);
      const s3 = tf.zeros([2, 2, 2]);
      const before = tf.memory().numTensors;
      expect(() => heatmapSvg(s4, { batch: 2 })).toThrow(/^heatmapSvg: expected batch to be an integer in \[0, 2\) for scores \[2,3,2,2\], but got batch=2\.$/);
      expect(() => heatmapSvg(s4, { head: 1.5 })).toThrow(/expected head to be an integer in \[0, 3\) for scores \[2,3,2,2\], but got head=1.5\./);
      expect(() => heatmapSvg(s3, { head: 0 })).toThrow(/^heatmapSvg: expected head only for \[B, N, T, S\] scores, but got head=0 for shape \[2,2,2\]\.$/);
      expect(() => heatmapSvg(tf.zeros([2, 2]), { batch: 0 })).toThrow(/expected batch only for \[B, T, S\] or \[B, N, T, S\] scores/);
      expect(tf.memory().numTensors).toBe(before + 1);
      tf.dispose([s3, s4]);
    });
  });

  it('does not leak tensors', () => {
    const t = tf.tensor2d([[0.2, 0.8]]);
    const before = tf.memory().numTensors;
    heatmapSvg(t);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });
});
