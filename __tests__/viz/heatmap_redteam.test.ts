/**
 * Red-team variations on heatmapSvg (issue 11): sizes that would exhaust
 * memory or the stack, text XML cannot hold, labels and options of the wrong
 * type, ranges that overflow. Every outcome is a well-formed SVG or an
 * AttentionError; no tensor is left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionError, heatmapSvg } from '../../src';
import { MAX_HEATMAP_CELLS } from '../../src/viz/heatmap';

const fills = (svg: string) => [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="\d+" height="\d+" fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);

describe('heatmapSvg under bad input', () => {
  it('refuses a matrix beyond MAX_HEATMAP_CELLS before reading it (a [20000, 20000] tensor ran out of memory)', () => {
    const big = tf.zeros([20000, 20000]);
    const before = tf.memory().numTensors;
    expect(() => heatmapSvg(big)).toThrow(/^heatmapSvg: expected at most 262144 cells \(for example 512 × 512\), but got \[20000,20000\] = 400000000; slice the weights first\.$/);
    expect(tf.memory().numTensors).toBe(before);
    big.dispose();
    const rows = Array.from({ length: 513 }, () => new Array<number>(512).fill(0));
    expect(() => heatmapSvg(rows)).toThrow(AttentionError);
    expect(MAX_HEATMAP_CELLS).toBe(512 * 512);
  });

  it('draws a wide matrix within the limit (1 × 200000 overflowed the stack in Math.min(...))', () => {
    const t = tf.tidy(() => tf.concat([tf.zeros([1, 199999]), tf.ones([1, 1])], 1));
    const svg = heatmapSvg(t);
    t.dispose();
    const f = fills(svg);
    expect(f).toHaveLength(200000);
    expect(f[199999]).toBe('#fde725');
    expect(f[0]).toBe('#440154');
  });

  it('replaces characters XML cannot hold, and escapes markup in every text field', () => {
    const svg = heatmapSvg([[0, 1]], {
      rowLabels: ['a\u0000b\u001b[31m'], colLabels: ['\ud800x', '<script>alert(1)</script>'],
      title: ']]><!-- & -->', queryAxisLabel: '<q>', keyAxisLabel: "'k'",
    });
    // eslint-disable-next-line no-control-regex
    expect(svg).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    expect(svg).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    expect(svg).toContain('a\ufffdb\ufffd[31m');
    expect(svg).toContain('\ufffdx');
    expect(svg).not.toContain('<script');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(svg).toContain(']]&gt;&lt;!-- &amp; --&gt;');
    expect(svg).toContain('&lt;q&gt;');
    expect(svg).toContain('&apos;k&apos;');
  });

  it('colours a range as wide as the doubles (the span overflowed to Infinity: NaN colours, then a TypeError)', () => {
    const f = fills(heatmapSvg([[-1.7e308, 0, 1.7e308]]));
    expect(f).toEqual(['#440154', '#21918c', '#fde725']);
  });

  it('prints number labels, and refuses labels, titles, ranges and options of the wrong type', () => {
    expect(heatmapSvg([[1, 2]], { rowLabels: [7] as unknown as string[] })).toContain('>7</text>');
    const bad: Array<[unknown, RegExp]> = [
      [{ rowLabels: [{}] }, /^heatmapSvg: expected `rowLabels\[0\]` to be a string, but got object\.$/],
      [{ colLabels: 'ab' }, /^heatmapSvg: expected `colLabels` to be an array of 2 strings, but got string\.$/],
      [{ title: 5 }, /^heatmapSvg: expected `title` to be a string, but got number\.$/],
      [{ keyAxisLabel: null }, /^heatmapSvg: expected `keyAxisLabel` to be a string, but got null\.$/],
      [{ range: 5 }, /^heatmapSvg: expected range \[lo, hi\] with finite lo <= hi, but got 5/],
      [{ range: [0] }, /but got \[0\]/],
      [null, /^heatmapSvg: expected `options` to be an object, but got null\.$/],
    ];
    for (const [options, re] of bad) {
      expect(() => heatmapSvg([[1, 2]], options as never)).toThrow(re);
      expect(() => heatmapSvg([[1, 2]], options as never)).toThrow(AttentionError);
    }
  });

  it('refuses string tensors and disposed tensors with AttentionError', () => {
    const s = tf.tensor([['a', 'b']]);
    expect(() => heatmapSvg(s)).toThrow(/^heatmapSvg: expected numeric weights, but got a tensor of dtype string\.$/);
    s.dispose();
    const d = tf.tensor([[1, 2]]);
    d.dispose();
    expect(() => heatmapSvg(d)).toThrow(/^heatmapSvg: expected a live tensor, but got a disposed one\.$/);
    expect(() => heatmapSvg([[1, 2], [3]])).toThrow(AttentionError);
    expect(() => heatmapSvg([[NaN]])).toThrow(AttentionError);
  });
});
