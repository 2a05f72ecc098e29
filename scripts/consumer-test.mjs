#!/usr/bin/env node
/**
 * The first hour of a new user, as a test: builds and packs the library,
 * installs the tarball with @tensorflow/tfjs into scratch consumer projects,
 * and checks what such a user meets.
 *
 *   npm run test:consumer            (builds first)
 *   node scripts/consumer-test.mjs --no-build
 *
 * Projects (in a temporary directory, removed at the end):
 * - esm/ ("type": "module", npm's default hoisted layout): every ```ts block
 *   of README.md runs as written (through tsx), each as its own file; the
 *   README's blocks and a typed-usage file compile with `strict` and without
 *   `skipLibCheck`; importing the library leaves tfjs's backend alone; an
 *   embedding + TransformerEncoder model trains on wasm; an uncaught error
 *   after initBackend('wasm') exits 1 with the user's message on top.
 * - cjs/ ("type": "commonjs"): every ```js block of README.md that uses
 *   require() runs; the library computes a known value; the typed-usage file
 *   compiles as CommonJS; the uncaught-error check again.
 * - linked/ (`npm install --install-strategy=linked`, pnpm-like isolated
 *   layout): the typed-usage file compiles (no deep import into a package the
 *   library does not declare).
 *
 * Type checks count only diagnostics outside @tensorflow's own declarations
 * (tfjs 4.22's .d.ts files do not pass `strict` without skipLibCheck by
 * themselves; the library must add no diagnostic of its own).
 *
 * Offline: npm installs from its cache (--prefer-offline); the tarball is local.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(new URL('..', import.meta.url).pathname);
const keep = process.argv.includes('--keep');
const run = (cmd, args, cwd, opts = {}) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const env = { ...process.env };
delete env.TFJS_ATTENTION_BACKEND;

let failures = 0;
function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) {
    failures++;
    if (detail) console.log(detail.split('\n').map((l) => `     ${l}`).join('\n'));
  }
}

/** Runs a file with node (TypeScript through tsx); returns {status, stdout, stderr}. */
function node(file, cwd, { ts = false, timeout = 300000 } = {}) {
  const args = ts ? ['--import', tsxLoader, file] : [file];
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env, timeout });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The fenced code blocks of a Markdown text: [{lang, code, line}]. */
export function codeBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent));
    blocks.push({ lang: open[2], code: body.join('\n') + '\n', line: i + 1 });
    i = j;
  }
  return blocks;
}

/** Type-checks the files of a project; returns the diagnostics outside @tensorflow's declarations. */
function typecheck(dir, files, module) {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        target: 'es2022',
        module,
        moduleResolution: module,
        lib: ['es2022', 'dom'],
        types: ['node'],
      },
      files,
    }),
  );
  const r = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: dir, encoding: 'utf8' });
  const diagnostics = (r.stdout + r.stderr).split('\n').filter((l) => /error TS\d+/.test(l));
  return diagnostics.filter((l) => !/node_modules\/(\.store\/[^/]+\/node_modules\/)?@tensorflow\//.test(l));
}

/** Typed use of the public API: what a TypeScript user writes. */
const TYPED = (kind) => `${kind === 'cjs' ? "import tf = require('@tensorflow/tfjs');\nimport lib = require('tfjs-attention');\nconst { initBackend, MultiHeadAttention, SelfAttention, Attention, heatmapSvg, AttentionError } = lib;\ntype MultiHeadAttentionCallOptions = lib.MultiHeadAttentionCallOptions;\ntype BackendName = lib.BackendName;" : "import * as tf from '@tensorflow/tfjs';\nimport { initBackend, MultiHeadAttention, SelfAttention, Attention, heatmapSvg, AttentionError } from 'tfjs-attention';\nimport type { MultiHeadAttentionCallOptions, BackendName } from 'tfjs-attention';"}
export async function typed(): Promise<void> {
  const backend: BackendName = await initBackend('cpu');
  const q = tf.randomNormal([2, 5, 8]);
  const v = tf.randomNormal([2, 7, 8]);
  const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
  const options: MultiHeadAttentionCallOptions = { useCausalMask: true, attentionMask: tf.ones([2, 5, 7]) };
  const [out, scores]: [tf.Tensor, tf.Tensor] = mha.callWithScores([q, v], options);
  const [o2, s2] = mha.apply([q, v], { returnAttentionScores: true });
  const plain: tf.Tensor = mha.apply([q, v], { returnAttentionScores: false });
  const self = new SelfAttention({ numHeads: 2, keyDim: 4, useCausalMask: true, outputShape: 6 });
  const [so, ss] = self.callWithScores(q);
  const [ao, as] = new Attention({ useCausalMask: true }).callWithScores([q, v], { useCausalMask: false });
  const svg: string = heatmapSvg(scores, { batch: 1, head: 0, queryAxisLabel: 'query', keyAxisLabel: 'key' });
  const e: unknown = new AttentionError('x');
  console.log(backend, out.shape, o2.shape, s2.shape, plain.shape, so.shape, ss.shape, ao.shape, as.shape, svg.length, e instanceof Error);
}
typed().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;

const scratch = mkdtempSync(join(tmpdir(), 'tfjs-attention-first-hour-'));
try {
  if (!process.argv.includes('--no-build')) run('node', ['scripts/build.mjs'], root, { stdio: ['ignore', 'pipe', 'inherit'] });

  // ---- the tarball
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], root));
  const tarball = join(scratch, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const needed of ['dist/index.js', 'dist/index.mjs', 'dist/types/index.d.ts', 'package.json', 'README.md']) {
    check(files.includes(needed), `the tarball has ${needed}`);
  }
  const leaked = files.filter((f) => f.startsWith('src/') || f.startsWith('__tests__/'));
  check(leaked.length === 0, 'the tarball ships no sources or tests', leaked.join(', '));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  check(Boolean(pkg.repository?.url && pkg.homepage && pkg.bugs?.url), 'package.json has repository, homepage and bugs');
  const deepImports = files
    .filter((f) => f.endsWith('.d.ts'))
    .filter((f) => /from ['"]@tensorflow\/tfjs-(layers|core)|import\(['"]@tensorflow\/tfjs-(layers|core)/.test(readFileSync(join(root, f), 'utf8')));
  check(deepImports.length === 0, 'the declarations import only @tensorflow/tfjs (no tfjs-layers or tfjs-core)', deepImports.join(', '));

  // ---- README: links and images resolve for a reader of the npm page
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const targets = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)[^)]*\)/g)].map((m) => m[1]);
  const bad = targets.filter((t) => {
    if (t.startsWith('#')) return false;
    const unpkg = /^https:\/\/unpkg\.com\/tfjs-attention(@[^/]+)?\/(.+)$/.exec(t);
    if (unpkg) return !files.includes(unpkg[2]);
    if (/^https?:\/\//.test(t)) return false;
    return !files.includes(t.replace(/^\.\//, ''));
  });
  check(bad.length === 0, `README's ${targets.length} links and images resolve (absolute, or files in the tarball)`, bad.join('\n'));
  check(!/\.\.\/shared\//.test(readme), 'README does not send readers to ../shared/');

  // ---- install into the three projects
  const tfjsVersion = JSON.parse(readFileSync(join(root, 'node_modules/@tensorflow/tfjs/package.json'), 'utf8')).version;
  const typesNode = JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')).version;
  const project = (name, type, extra = []) => {
    const dir = join(scratch, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, version: '1.0.0', type }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', ...extra, tarball, `@tensorflow/tfjs@${tfjsVersion}`, `@types/node@${typesNode}`], dir);
    return dir;
  };
  const esm = project('esm', 'module');
  const cjs = project('cjs', 'commonjs');
  const linked = project('linked', 'module', ['--install-strategy=linked']);
  console.log(`installed ${packed[0].filename} into ESM, CommonJS and linked-layout projects`);

  // ---- README blocks
  const blocks = codeBlocks(readme);
  const tsBlocks = blocks.filter((b) => b.lang === 'ts');
  const cjsBlocks = blocks.filter((b) => b.lang === 'js' && /require\(/.test(b.code));
  // The Keras loader's block reads a converted model from web_model/: give it one.
  cpSync(join(root, '__tests__/fixtures/keras-real/model_mha/tfjs_from_keras'), join(esm, 'web_model'), { recursive: true });
  const tsFiles = [];
  for (const [i, b] of tsBlocks.entries()) {
    const file = `readme-${String(i + 1).padStart(2, '0')}-line${b.line}.mts`;
    writeFileSync(join(esm, file), b.code);
    tsFiles.push(file);
    const r = node(file, esm, { ts: true });
    check(r.status === 0, `README.md:${b.line} (ts block ${i + 1} of ${tsBlocks.length}) runs as written in an ES-module project`, (r.stderr || r.stdout).slice(0, 2000));
  }
  for (const [i, b] of cjsBlocks.entries()) {
    const file = `readme-${String(i + 1).padStart(2, '0')}-line${b.line}.cjs`;
    writeFileSync(join(cjs, file), b.code);
    const r = node(file, cjs);
    check(r.status === 0, `README.md:${b.line} (CommonJS block ${i + 1} of ${cjsBlocks.length}) runs as written in a CommonJS project`, (r.stderr || r.stdout).slice(0, 2000));
  }
  check(tsBlocks.length > 0 && cjsBlocks.length > 0, `README has ES-module (${tsBlocks.length}) and CommonJS (${cjsBlocks.length}) blocks`);

  // ---- types: strict, no skipLibCheck, both layouts, both module kinds
  writeFileSync(join(esm, 'typed.mts'), TYPED('esm'));
  writeFileSync(join(linked, 'typed.mts'), TYPED('esm'));
  writeFileSync(join(cjs, 'typed.cts'), TYPED('cjs'));
  for (const [dir, what, fileList] of [
    [esm, 'ES-module project (README blocks and typed use)', ['typed.mts', ...tsFiles]],
    [cjs, 'CommonJS project (typed use)', ['typed.cts']],
    [linked, 'linked-layout project (typed use)', ['typed.mts']],
  ]) {
    const diagnostics = typecheck(dir, fileList, 'nodenext');
    check(diagnostics.length === 0, `types compile strict, without skipLibCheck, in the ${what}`, diagnostics.slice(0, 20).join('\n'));
  }
  const typedRun = node('typed.mts', esm, { ts: true });
  check(typedRun.status === 0 && /^cpu \[ 2, 5, 8 \] /m.test(typedRun.stdout), 'the typed-usage file runs', typedRun.stderr.slice(0, 2000));

  // ---- behaviour of the installed package
  const scripts = {
    'no-side-effects.mjs': `
      import * as tf from '@tensorflow/tfjs';
      import { initBackend } from 'tfjs-attention';
      tf.env().set('PROD', true);
      const sum = tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0];
      console.log(JSON.stringify({ sum, before: tf.getBackend(), wasm: tf.findBackendFactory('wasm') != null, chosen: await initBackend('wasm') }));`,
    'train.mjs': `
      import * as tf from '@tensorflow/tfjs';
      import { initBackend, TokenAndPositionEmbedding, TransformerEncoder } from 'tfjs-attention';
      tf.env().set('PROD', true);
      const backend = await initBackend('wasm');
      const n = 32, T = 6, ids = [], ys = [];
      for (let i = 0; i < n; i++) {
        const row = Array.from({ length: T }, (_, j) => 2 + ((i * 5 + j * 3) % 6));
        if (i % 2 === 0) row[(i * 7) % T] = 1;
        ids.push(...row); ys.push(i % 2 === 0 ? 1 : 0);
      }
      const model = tf.sequential({ layers: [
        new TokenAndPositionEmbedding({ vocabularySize: 8, sequenceLength: T, embeddingDim: 8, inputShape: [T], embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 3 }) }),
        new TransformerEncoder({ intermediateDim: 16, numHeads: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        tf.layers.globalAveragePooling1d(),
        tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      ] });
      model.compile({ optimizer: tf.train.adam(0.02), loss: 'binaryCrossentropy' });
      const h = await model.fit(tf.tensor2d(ids, [n, T], 'int32'), tf.tensor2d(ys, [n, 1]), { epochs: 12, batchSize: 8, verbose: 0, shuffle: false });
      const loss = h.history.loss;
      console.log(JSON.stringify({ backend, first: loss[0], last: loss[loss.length - 1] }));`,
    'crash.mjs': `
      import { initBackend } from 'tfjs-attention';
      await initBackend('wasm');
      setTimeout(() => { throw new Error('the user own failure'); }, 0);`,
  };
  for (const [file, code] of Object.entries(scripts)) writeFileSync(join(esm, file), code);
  writeFileSync(
    join(cjs, 'crash.cjs'),
    `const { initBackend } = require('tfjs-attention');\ninitBackend('wasm').then(() => { throw new Error('the user own failure'); });\n`,
  );
  writeFileSync(
    join(cjs, 'value.cjs'),
    // softmax([0, 1])·[[10],[0]] with Q=[[1,0]], K=[[0,0],[1,0]] = 10/(1+e).
    `const { attention, initBackend } = require('tfjs-attention');\n(async () => {\n  const backend = await initBackend();\n  const v = attention([[1, 0]], [[0, 0], [1, 0]], [[10], [0]]).dataSync()[0];\n  console.log(backend + ' ' + v.toFixed(4));\n})();\n`,
  );

  const side = node('no-side-effects.mjs', esm);
  let parsed = {};
  try { parsed = JSON.parse(side.stdout.trim().split('\n').pop()); } catch { /* reported below */ }
  check(side.status === 0 && parsed.sum === 6 && parsed.before === 'cpu' && parsed.wasm === false && parsed.chosen === 'wasm',
    'importing the library changes no backend; tfjs works before initBackend; initBackend("wasm") then sets wasm', side.stdout + side.stderr.slice(0, 2000));

  const train = node('train.mjs', esm);
  let t = {};
  try { t = JSON.parse(train.stdout.trim().split('\n').pop()); } catch { /* reported below */ }
  check(train.status === 0 && t.backend === 'wasm' && t.last < t.first * 0.8,
    `TokenAndPositionEmbedding → TransformerEncoder → globalAveragePooling1d → dense trains on wasm (loss ${t.first?.toFixed?.(4)} → ${t.last?.toFixed?.(4)})`,
    train.stderr.slice(0, 2000));

  for (const [dir, file] of [[esm, 'crash.mjs'], [cjs, 'crash.cjs']]) {
    const r = node(file, dir);
    const head = r.stderr.split('\n').slice(0, 8).join('\n');
    check(r.status === 1 && /Error: the user own failure/.test(head) && r.stderr.length < 4000,
      `an uncaught error after initBackend('wasm') exits 1 with the user's message on top (${file}: exit ${r.status}, ${r.stderr.length} bytes of stderr)`,
      r.stderr.slice(0, 1500));
  }

  // Plain JavaScript has no type check: misspelled constructor arguments and
  // options must be refused at run time, naming the likely one.
  writeFileSync(join(cjs, 'typos.cjs'), `const tf = require('@tensorflow/tfjs');
const { AttentionError, MultiHeadAttention, layers, scaledDotProductAttention } = require('tfjs-attention');
const x = tf.ones([1, 3, 4]);
for (const f of [
  () => new MultiHeadAttention({ numHeads: 2, keyDim: 2, useCasualMask: true }),
  () => layers.transformerEncoder({ intermediate_dim: 8, num_heads: 2 }),
  () => new MultiHeadAttention({ numHeads: 2, keyDim: 2 }).apply([x, x], { return_attention_scores: true }),
  () => scaledDotProductAttention(x, x, x, { is_causal: true }),
]) {
  try { f(); console.log('accepted'); } catch (e) { console.log(e instanceof AttentionError, e.message.replace(/^.*but got /, '')); }
}
`);
  const typos = node('typos.cjs', cjs);
  const typoLines = typos.stdout.trim().split('\n');
  check(typos.status === 0 && typoLines.length === 4 && typoLines.every((l) => l.startsWith('true ')) &&
    /useCasualMask \(did you mean useCausalMask\?\)/.test(typoLines[0]) && /intermediate_dim \(did you mean intermediateDim\?\), num_heads \(did you mean numHeads\?\)/.test(typoLines[1]) &&
    /return_attention_scores \(did you mean returnAttentionScores\?\)/.test(typoLines[2]) && /is_causal \(did you mean causal\?\)/.test(typoLines[3]),
  'plain JS: misspelled constructor arguments, call options and function options are AttentionErrors naming the likely name', typos.stdout + typos.stderr.slice(0, 1500));

  // The residual pattern x + MHA(x, x) built in plain JS, on the default backend: predict, evaluate, fit.
  writeFileSync(join(esm, 'residual.mjs'), `import * as tf from '@tensorflow/tfjs';
import { initBackend, MultiHeadAttention } from 'tfjs-attention';
const backend = await initBackend();
const inp = tf.input({ shape: [6, 16] });
const att = new MultiHeadAttention({ numHeads: 2, keyDim: 8 }).apply([inp, inp]);
const res = tf.layers.add().apply([inp, att]);
const out = tf.layers.dense({ units: 1 }).apply(tf.layers.globalAveragePooling1d().apply(res));
const m = tf.model({ inputs: inp, outputs: out });
m.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
const x = tf.randomNormal([32, 6, 16], 0, 1, 'float32', 1);
const y = x.mean([1, 2]).expandDims(1);
const shape = m.predict(x).shape;
const before = m.evaluate(x, y).dataSync()[0];
await m.fit(x, y, { epochs: 15, verbose: 0 });
const after = m.evaluate(x, y).dataSync()[0];
console.log(JSON.stringify({ backend, shape, before, after }));
`);
  const residual = node('residual.mjs', esm);
  const rr = residual.status === 0 ? JSON.parse(residual.stdout.trim().split('\n').pop()) : {};
  check(residual.status === 0 && rr.backend === 'wasm' && JSON.stringify(rr.shape) === '[32,1]' && rr.after < rr.before * 0.8,
    `plain JS: x + MultiHeadAttention(x, x) (tf.layers.add) predicts, evaluates and fits on wasm (loss ${rr.before?.toFixed?.(4)} → ${rr.after?.toFixed?.(4)})`,
    residual.stderr.slice(0, 2000));

  const value = node('value.cjs', cjs);
  const expected = (10 / (1 + Math.E)).toFixed(4);
  check(value.status === 0 && value.stdout.trim().endsWith(expected), `require('tfjs-attention') computes attention (${value.stdout.trim()}; expected ${expected})`, value.stderr.slice(0, 1500));
} finally {
  if (keep) console.log(`kept ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}

if (failures > 0) {
  console.log(`consumer-test: ${failures} check(s) failed`);
  process.exit(1);
}
console.log('consumer-test: all checks passed');
