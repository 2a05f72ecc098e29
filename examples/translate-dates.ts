/**
 * Machine translation of dates: "24 November 2026", "Nov 24, 2026",
 * "11/24/26", "Tuesday 24th of November 2026", ... → "2026-11-24", with a
 * model built from the library's layers (see examples/dates/model.ts), and
 * the attention heatmap of what each output character was read from.
 *
 * Run:
 *   npx tsx examples/translate-dates.ts                 # train (full), save to examples/out/dates-model
 *   npx tsx examples/translate-dates.ts --quick         # a few steps, checks the pipeline end to end
 *   npx tsx examples/translate-dates.ts --predict "24 Nov 2026"
 * Options: --model DIR (where to save / load), --seconds N (time budget of
 * the full run, default 270), --backend wasm|cpu.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileSystem, heatmapSvg, initBackend } from '../src';
import type { BackendName } from '../src';
import { check, flag, hasFlag, trainLoop } from './common/train';
import { OUTPUT_CHARS, encodeOutput, generatePairs, inputLabels } from './dates/data';
import { buildDatesModel, inputTensor, trainingModel, translate } from './dates/model';

const OUT = path.join(__dirname, 'out');

/** Exact-match accuracy (all ten characters right) of `model` on `pairs`. */
function exactMatch(model: tf.LayersModel, pairs: { human: string; iso: string }[]): number {
  let right = 0;
  for (let i = 0; i < pairs.length; i += 500) {
    const chunk = pairs.slice(i, i + 500);
    const { iso } = translate(model, chunk.map((p) => p.human));
    iso.forEach((s, j) => {
      if (s === chunk[j].iso) right++;
    });
  }
  return right / pairs.length;
}

/** Writes the heatmap of `text` next to `file` and returns the translation. */
function predictAndDraw(model: tf.LayersModel, text: string, file: string): string {
  const { iso, weights } = translate(model, [text]);
  const cols = inputLabels(text);
  const rows = weights[0].map((row) => row.slice(0, cols.length));
  const svg = heatmapSvg(rows, {
    rowLabels: [...iso[0]],
    colLabels: cols.map((c) => (c === ' ' ? '␣' : c)),
    title: `"${text}" → ${iso[0]}`,
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, svg);
  return iso[0];
}

async function train(quick: boolean, modelDir: string): Promise<void> {
  const seconds = Number(flag('seconds') ?? 270);
  const batchSize = 64;
  const batchesPerEpoch = quick ? 4 : 100;
  const epochs = quick ? 1 : 15;
  const heldOut = generatePairs(quick ? 200 : 2000, 12345);
  const heldOutSet = new Set(heldOut.map((p) => p.human));
  const full = buildDatesModel();
  const model = trainingModel(full);
  const optimizer = tf.train.adam(3e-3);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  console.log(`dates model: ${full.countParams()} parameters; ${quick ? 'quick' : `full (≤ ${seconds} s)`} run`);
  let seed = 1;
  const result = await trainLoop({
    model,
    epochs,
    batchesPerEpoch,
    batch: () => {
      // Fresh random dates every batch (never one of the held-out texts).
      const pairs = generatePairs(batchSize, seed++).filter((p) => !heldOutSet.has(p.human));
      const x = inputTensor(pairs.map((p) => p.human));
      const y = tf.tidy(() =>
        tf.oneHot(tf.tensor2d(pairs.map((p) => encodeOutput(p.iso)), [pairs.length, 10], 'int32'), OUTPUT_CHARS.length),
      );
      return { x, y };
    },
    evaluate: () => exactMatch(full, heldOut.slice(0, quick ? 200 : 500)),
    target: quick ? undefined : 0.995,
    maxSeconds: quick ? undefined : seconds,
    onEpochEnd: (epoch) => {
      // Decay the learning rate by 0.88 an epoch (about 10 epochs fit the budget).
      (optimizer as unknown as { learningRate: number }).learningRate = 3e-3 * Math.pow(0.88, epoch + 1);
    },
  });
  const acc = exactMatch(full, heldOut);
  console.log(
    `trained ${result.epochs} epochs (${result.batches * batchSize} examples) in ${result.seconds.toFixed(1)} s; ` +
      `held-out exact match ${(acc * 100).toFixed(2)}% on ${heldOut.length} dates`,
  );
  await full.save(fileSystem(modelDir));
  console.log(`saved to ${modelDir}`);
  if (quick) {
    // End-to-end check: the saved model loads and gives the same answers.
    const loaded = await tf.loadLayersModel(fileSystem(path.join(modelDir, 'model.json')));
    const texts = heldOut.slice(0, 20).map((p) => p.human);
    check(
      JSON.stringify(translate(loaded, texts).iso) === JSON.stringify(translate(full, texts).iso),
      'the saved model loads and translates as the trained one',
    );
    const file = path.join(OUT, 'dates-quick-heatmap.svg');
    const iso = predictAndDraw(loaded, '24 Nov 2026', file);
    check(/^[0-9-]{10}$/.test(iso), `"24 Nov 2026" → "${iso}" is ten output characters`);
    const cellGroup = (fs.readFileSync(file, 'utf8').split('<g class="cells">')[1] ?? '').split('</g>')[0];
    const cells = cellGroup.match(/<rect/g)?.length ?? 0;
    check(cells === 10 * '24 Nov 2026'.length, `heatmap of 10 × 11 cells written to ${file} (${cells} cells)`);
    check(Number.isFinite(result.loss), `training loss is finite (${result.loss.toFixed(3)})`);
  } else {
    console.log(acc >= 0.97 ? 'target met: ≥ 97% exact match' : 'target NOT met: < 97% exact match');
  }
}

async function predict(text: string, modelDir: string): Promise<void> {
  const model = await tf.loadLayersModel(fileSystem(path.join(modelDir, 'model.json')));
  const file = path.join(OUT, 'dates-heatmap.svg');
  const iso = predictAndDraw(model, text, file);
  console.log(`${text} → ${iso}`);
  console.log(`attention heatmap: ${file}`);
}

async function main(): Promise<void> {
  const backend = await initBackend(flag('backend') as BackendName | undefined);
  const quick = hasFlag('quick');
  const modelDir = flag('model') ?? path.join(OUT, quick ? 'dates-model-quick' : 'dates-model');
  const text = flag('predict');
  console.log(`backend: ${backend}`);
  if (text !== undefined) {
    await predict(text, modelDir);
  } else {
    await train(quick, modelDir);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
