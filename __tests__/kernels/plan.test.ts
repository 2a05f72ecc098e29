/**
 * The planner as a table: (shapes, options, backend, budget, SIMD) → kernel.
 * Pure: no backend is consulted, so these rows hold on every machine.
 */
import { AttentionError } from '../../src/errors';
import { planAttention, PlanRequest } from '../../src/kernels/plan';

const MiB = 1024 * 1024;

type Over = Partial<PlanRequest> & { T?: number; S?: number; lead?: number[]; H?: number; Hv?: number };

function req(over: Over = {}): PlanRequest {
  const { T = 2048, S = T, lead = [1, 8], H = 64, Hv = 64, ...rest } = over;
  return {
    fn: 'scaledDotProductAttention',
    shapes: { lead, T, S, H, Hv },
    implementation: 'auto',
    mask: false,
    bias: false,
    causal: false,
    window: undefined,
    emptyRows: 'zeros',
    returnWeights: false,
    dropoutWhileTraining: false,
    backend: 'wasm',
    memoryBudget: 256 * MiB,
    recordingGradient: false,
    simd: { available: false, reason: 'not built' },
    ...rest,
  };
}

const SIMD = { available: true, threads: 1 };

describe('planAttention', () => {
  it.each<[string, Over, string, Record<string, unknown>]>([
    ['wasm, no SIMD: blocked, one block', {}, 'blocked', { queryBlock: 2048 }],
    ['wasm, causal: blocked, 512-row blocks', { causal: true }, 'blocked', { queryBlock: 512 }],
    ['wasm, SIMD available: simd', { simd: SIMD }, 'simd', {}],
    ['cpu, SIMD available: simd', { backend: 'cpu', simd: SIMD }, 'simd', {}],
    ['webgl keeps its path although SIMD is available', { backend: 'webgl', simd: SIMD, T: 1024 }, 'naive', {}],
    ['SIMD but returnWeights: the tfjs path', { simd: SIMD, returnWeights: true }, 'blocked', {}],
    ['SIMD but dropout while training: the tfjs path', { simd: SIMD, dropoutWhileTraining: true }, 'blocked', {}],
    ['cpu: the fused JS loop', { backend: 'cpu' }, 'cpu_fused', {}],
    ['cpu with a 1 MiB budget, recording a gradient: still the fused loop (O(S) memory)', { backend: 'cpu', memoryBudget: MiB, recordingGradient: true }, 'cpu_fused', {}],
    ['cpu, returnWeights, 1 MiB while recording: online impossible, blocked', { backend: 'cpu', returnWeights: true, memoryBudget: MiB, recordingGradient: true }, 'blocked', {}],
    ['cpu, dropout, 1 MiB: blocked, rows cut to fit the forward pass', { backend: 'cpu', dropoutWhileTraining: true, memoryBudget: MiB }, 'blocked', { queryBlock: 42 }],
    ['wasm, forward under a 1 MiB budget: online, blocks that fit', { memoryBudget: MiB }, 'online', { queryBlock: 128, keyChunk: 128 }],
    ['wasm, recording a gradient: the tape would keep 3·128 MiB: online', { recordingGradient: true }, 'online', {}],
    ['wasm, recording a gradient within the budget: blocked', { recordingGradient: true, lead: [1, 2], T: 1024 }, 'blocked', {}],
    ['wasm, 16384² forward: one slice is 1 GiB: online', { T: 16384 }, 'online', { queryBlock: 2048, keyChunk: 2048 }],
    ['webgl within budget: naive', { backend: 'webgl', T: 1024 }, 'naive', {}],
    ['webgl over budget: online', { backend: 'webgl', memoryBudget: 8 * MiB }, 'online', {}],
    ['webgl causal: blocked', { backend: 'webgl', causal: true }, 'blocked', {}],
    ['window: blocked over the band', { window: 16, T: 16384 }, 'blocked', { queryBlock: 512 }],
    ['uniform empty rows may go online', { emptyRows: 'uniform', memoryBudget: MiB }, 'online', {}],
    ['a bias cannot go online: blocked, rows cut to the budget', { bias: true, memoryBudget: MiB }, 'blocked', { queryBlock: 42 }],
    ['T = 0: empty', { T: 0, S: 5 }, 'empty', {}],
    ['S = 0: empty', { T: 5, S: 0 }, 'empty', {}],
    ['batch 0: empty', { lead: [0, 8] }, 'empty', {}],
    ['H = 0: naive', { H: 0 }, 'naive', {}],
    ['Hv = 0: naive', { Hv: 0, backend: 'cpu' }, 'naive', {}],
    ['forced naive', { implementation: 'naive' }, 'naive', {}],
    ['forced blocked, blockSize', { implementation: 'blocked', blockSize: 100 }, 'blocked', { queryBlock: 100 }],
    ['forced chunked keeps the caller sizes', { implementation: 'chunked', blockSize: 7, chunkSize: 9 }, 'online', { queryBlock: 7, keyChunk: 9 }],
    ['forced fused on wasm', { implementation: 'fused' }, 'cpu_fused', {}],
    ['forced simd where available', { implementation: 'simd', simd: SIMD, backend: 'webgl' }, 'simd', {}],
    ['forced anything with a zero size: empty', { implementation: 'chunked', T: 0 }, 'empty', {}],
  ])('%s', (_name, over, kernel, params) => {
    const plan = planAttention(req(over));
    expect(plan.kernel).toBe(kernel);
    expect(plan).toMatchObject(params);
    expect(plan.why.length).toBeGreaterThan(0);
  });

  it.each<[string, Over, RegExp]>([
    ['simd unavailable', { implementation: 'simd' }, /expected the WebAssembly SIMD kernel to be available for implementation 'simd', but it is not \(not built\)/],
    ['simd with returnWeights', { implementation: 'simd', simd: SIMD, returnWeights: true }, /implementation 'simd' does not support returnWeights/],
    ['fused with dropout', { implementation: 'fused', dropoutWhileTraining: true }, /implementation 'fused' does not support dropout while training/],
    ['chunked with bias', { implementation: 'chunked', bias: true }, /implementation 'chunked' does not support bias/],
    ['chunked with returnWeights even at a zero size', { implementation: 'chunked', returnWeights: true, T: 0 }, /implementation 'chunked' does not support returnWeights/],
  ])('refuses %s with an AttentionError', (_name, over, msg) => {
    expect(() => planAttention(req(over))).toThrow(msg);
    expect(() => planAttention(req(over))).toThrow(AttentionError);
  });

  it('keeps every online block within the budget when it chooses the sizes', () => {
    for (const budget of [4096, MiB, 3 * MiB, 100 * MiB]) {
      const plan = planAttention(req({ T: 16384, memoryBudget: budget }));
      expect(plan.kernel).toBe('online');
      if (plan.kernel === 'online') expect(10 * 4 * plan.queryBlock * plan.keyChunk).toBeLessThanOrEqual(budget);
    }
  });
});
