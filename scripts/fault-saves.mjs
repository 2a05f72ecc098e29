// Fault injection for fileSystem's save (issue 11, items 7-8): `npm run test:faults`.
//
// A child process saving a model of ~21 MB is killed (SIGKILL):
//   1. at random moments of its save (at least 15 times, seeded: FAULT_SEED, default 11),
//   2. at each named step of the save (TFJS_ATTENTION_FAULT_STEP),
//   3. while saving 4 models concurrently in one process,
//   4. while another process saves to the same directory;
// and concurrent saves run to completion in one process and in two processes.
// After every kill or run the directory must load, and its weights must be,
// bit for bit, those of the model before the run or of one saved by it.
// Exits 1 on the first violation.
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSystem } from '../src/io/file_system.ts';
import { modelWeights } from './fault-model.mjs';

tf.env().set('PROD', true);
await tf.setBackend('cpu');

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'fault-child.mjs');
const UNITS = 5120; // 1024 x 5120 float32 kernel + bias: 21 MB of weights
const SMALL_UNITS = 1280; // for 4 concurrent saves in one process: 5 MB each
const RANDOM_KILLS = Number(process.env.FAULT_KILLS ?? 16);

let state = Number(process.env.FAULT_SEED ?? 11) >>> 0;
/** mulberry32: a seeded uniform in [0, 1). */
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function fail(message) {
  console.error(`FAULT TEST FAILED: ${message}`);
  process.exit(1);
}

/**
 * Runs a child saving `seeds` (comma-joined: concurrently) with `units`.
 * killAfter: ms after "saving" to SIGKILL it (undefined: let it finish).
 */
function runChild(dir, seeds, units, { killAfter, step } = {}) {
  const env = { ...process.env };
  delete env.TFJS_ATTENTION_FAULT_STEP;
  if (step !== undefined) env.TFJS_ATTENTION_FAULT_STEP = step;
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, seeds.join(','), String(units)], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let savingAt;
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (savingAt === undefined && out.includes('saving\n')) {
        savingAt = performance.now();
        if (killAfter !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfter);
      }
    });
    child.on('exit', (code, signal) => {
      resolve({ code, signal, saved: out.includes('saved\n'), ms: savingAt === undefined ? NaN : performance.now() - savingAt, err });
    });
  });
}

/** Which seed the directory holds (checked bit for bit), or throws. */
async function loadedSeed(dir, units) {
  const model = await tf.loadLayersModel(fileSystem(dir));
  const [kernel, bias] = model.getWeights();
  const k = kernel.dataSync();
  const b = bias.dataSync();
  model.dispose();
  if (b.length !== units) throw new Error(`loaded a model with ${b.length} units, expected ${units}`);
  const seed = Math.round(b[0] / 1000);
  const [wantK, wantB] = modelWeights(seed, units);
  const same = (x, y) => Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
  if (!same(k, wantK) || !same(b, wantB)) throw new Error(`weights are not bit-exact those of seed ${seed} (a mix of saves?)`);
  return seed;
}

async function expectOneOf(dir, units, allowed, what) {
  let seed;
  try {
    seed = await loadedSeed(dir, units);
  } catch (e) {
    fail(`${what}: the directory does not load as a saved model: ${e.message}`);
  }
  if (!allowed.includes(seed)) fail(`${what}: loaded seed ${seed}, expected one of ${allowed.join(', ')}`);
  return seed;
}

const root = mkdtempSync(join(tmpdir(), 'tfjs-attention-faults-'));
const dir = join(root, 'model');
const tally = { old: 0, new: 0 };
let nextSeed = 1;
try {
  // The first model, saved whole.
  let current = nextSeed++;
  const first = await runChild(dir, [current], UNITS);
  if (!first.saved) fail(`the first save did not complete: ${first.err}`);
  await expectOneOf(dir, UNITS, [current], 'first save');

  // Calibrate: how long a save takes here.
  const calib = nextSeed++;
  const c = await runChild(dir, [calib], UNITS);
  if (!c.saved) fail(`calibration save failed: ${c.err}`);
  current = await expectOneOf(dir, UNITS, [calib], 'calibration save');
  const saveMs = c.ms;
  console.log(`a save of ${(1024 * UNITS * 4 / 1e6).toFixed(1)} MB takes ${saveMs.toFixed(0)} ms here`);

  // 1. Random kills.
  for (let i = 0; i < RANDOM_KILLS; i++) {
    const seed = nextSeed++;
    const killAfter = random() * saveMs * 1.1;
    const r = await runChild(dir, [seed], UNITS, { killAfter });
    const got = await expectOneOf(dir, UNITS, [current, seed], `random kill ${i + 1} at ${killAfter.toFixed(0)} ms`);
    tally[got === seed ? 'new' : 'old']++;
    console.log(`random kill ${i + 1}/${RANDOM_KILLS} at ${killAfter.toFixed(0)} ms (${r.signal ?? `exit ${r.code}`}): ${got === seed ? 'new' : 'old'} model`);
    current = got;
  }

  // 2. A kill at each named step.
  const steps = [['weights-written', 'old'], ['json-written', 'old'], ['json-renamed', 'new'], ['cleanup-started', 'new']];
  for (const [step, expected] of steps) {
    const seed = nextSeed++;
    const r = await runChild(dir, [seed], UNITS, { step });
    if (r.signal !== 'SIGKILL') fail(`step ${step}: the child was not killed there (${r.signal ?? `exit ${r.code}`}): ${r.err}`);
    const got = await expectOneOf(dir, UNITS, [expected === 'old' ? current : seed], `kill at step ${step}`);
    console.log(`kill at step ${step}: ${expected} model, as expected`);
    current = got;
  }

  // What the killed saves left behind is removed by the next complete save.
  const tidy = nextSeed++;
  if (!(await runChild(dir, [tidy], UNITS)).saved) fail('the save after the kills failed');
  current = await expectOneOf(dir, UNITS, [tidy], 'save after kills');
  const files = readdirSync(dir).sort();
  if (files.length !== 2 || files[0] !== 'model.json' || !/^weights-\d+-[0-9a-f]{16}\.bin$/.test(files[1])) {
    fail(`after a complete save the directory should hold model.json and one weights file, but holds ${files.join(', ')}`);
  }
  console.log(`after the kills, the next save left: ${files.join(', ')}`);

  // 3. Concurrent saves in one process: to completion, then killed at random moments.
  const smallDir = join(root, 'concurrent');
  let small = nextSeed++;
  if (!(await runChild(smallDir, [small], SMALL_UNITS)).saved) fail('first small save failed');
  for (let i = 0; i < 3; i++) {
    const seeds = [nextSeed++, nextSeed++, nextSeed++, nextSeed++];
    const r = await runChild(smallDir, seeds, SMALL_UNITS);
    if (!r.saved) fail(`4 concurrent saves in one process: not all resolved: ${r.err}`);
    small = await expectOneOf(smallDir, SMALL_UNITS, seeds, `4 concurrent saves in one process, round ${i + 1}`);
    console.log(`4 concurrent saves in one process, round ${i + 1}: all resolved, the directory holds seed ${small}`);
  }
  for (let i = 0; i < 3; i++) {
    const seeds = [nextSeed++, nextSeed++, nextSeed++, nextSeed++];
    const killAfter = random() * saveMs * 1.1;
    await runChild(smallDir, seeds, SMALL_UNITS, { killAfter });
    small = await expectOneOf(smallDir, SMALL_UNITS, [small, ...seeds], `4 concurrent saves killed at ${killAfter.toFixed(0)} ms`);
    console.log(`4 concurrent saves in one process killed at ${killAfter.toFixed(0)} ms: the directory holds seed ${small}`);
  }

  // 4. Two processes saving to one directory at once; then one of them killed.
  for (let i = 0; i < 3; i++) {
    const a = nextSeed++;
    const b = nextSeed++;
    const [ra, rb] = await Promise.all([runChild(dir, [a], UNITS), runChild(dir, [b], UNITS)]);
    if (!ra.saved || !rb.saved) fail(`two processes saving at once: a save failed: ${ra.err}${rb.err}`);
    current = await expectOneOf(dir, UNITS, [a, b], `two processes, round ${i + 1}`);
    console.log(`two processes saving at once, round ${i + 1}: both resolved, the directory holds seed ${current}`);
  }
  for (let i = 0; i < 3; i++) {
    const a = nextSeed++;
    const b = nextSeed++;
    const killAfter = random() * saveMs * 1.1;
    const [, rb] = await Promise.all([runChild(dir, [a], UNITS, { killAfter }), runChild(dir, [b], UNITS)]);
    if (!rb.saved) fail(`two processes, one killed: the other save failed: ${rb.err}`);
    current = await expectOneOf(dir, UNITS, [current, a, b], `two processes, one killed at ${killAfter.toFixed(0)} ms`);
    console.log(`two processes, one killed at ${killAfter.toFixed(0)} ms: the other resolved, the directory holds seed ${current}`);
  }
  if (!(await runChild(dir, [nextSeed], UNITS)).saved) fail('the final save failed');
  await expectOneOf(dir, UNITS, [nextSeed], 'final save');
  const left = readdirSync(dir);
  if (left.length !== 2) fail(`after the final save the directory holds ${left.join(', ')}`);

  console.log(`fault test passed: ${RANDOM_KILLS} random kills (${tally.old} left the old model, ${tally.new} the new), 4 step kills, concurrent saves in one and two processes.`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
