// Seeded dropout across processes (issue 11, item 9), run by `npm run test:faults`:
// two fresh processes train-call a MultiHeadAttention with seed 7 (same weights,
// same input) three times; the three outputs must differ from call to call
// (the mask moves) and be bit-identical between the two processes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === 'child') {
  const tf = await import('@tensorflow/tfjs');
  const { MultiHeadAttention } = await import('../src/layers/multi_head_attention.ts');
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.5, seed: 7, kernelInitializer: 'ones' });
  const x = tf.tensor3d(Array.from({ length: 2 * 5 * 8 }, (_, i) => Math.sin(i)), [2, 5, 8]);
  const outs = [0, 1, 2].map(() => {
    const v = layer.apply([x, x], { training: true }).dataSync();
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  });
  process.stdout.write(JSON.stringify(outs));
} else {
  const run = () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, 'child'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const a = run();
  const b = run();
  if (a[0] === a[1] || a[1] === a[2]) {
    console.error('SEED TEST FAILED: a seeded layer applied the same dropout mask on consecutive training calls');
    process.exit(1);
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    console.error('SEED TEST FAILED: two fresh processes with seed 7 drew different sequences of dropout masks');
    process.exit(1);
  }
  console.log('seed test passed: two fresh processes with seed 7 drew the same 3 masks, each call a new one');
}
