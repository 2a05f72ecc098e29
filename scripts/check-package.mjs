#!/usr/bin/env node
/**
 * Packs the library, installs the tarball into a scratch consumer project and
 * runs a CommonJS and an ES-module script there, each importing the package by
 * name and checking a computed value. Run after `npm run build`:
 *
 *   node scripts/check-package.mjs
 *
 * The consumer installs @tensorflow/tfjs (the peer dependency) from the npm
 * cache or registry; no code is fetched at run time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const scratch = mkdtempSync(join(tmpdir(), 'tfjs-attention-consumer-'));
try {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], root));
  const tarball = join(scratch, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const needed of ['dist/index.js', 'dist/index.mjs', 'dist/types/index.d.ts', 'package.json']) {
    if (!files.includes(needed)) throw new Error(`check-package: the tarball lacks ${needed}`);
  }
  const leaked = files.filter((f) => f.startsWith('src/') || f.startsWith('__tests__/'));
  if (leaked.length > 0) throw new Error(`check-package: the tarball should not ship ${leaked.join(', ')}`);

  const tfjsVersion = JSON.parse(readFileSync(join(root, 'node_modules/@tensorflow/tfjs/package.json'), 'utf8')).version;
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', tarball, `@tensorflow/tfjs@${tfjsVersion}`], scratch);

  // softmax([0, 1])·[[10],[0]] with Q=[[1,0]], K=[[0,0],[1,0]] = 10/(1+e).
  const expected = (10 / (1 + Math.E)).toFixed(4);
  const body = `
  const backend = await initBackend();
  const out = attention([[1, 0]], [[0, 0], [1, 0]], [[10], [0]]);
  const v = out.dataSync()[0].toFixed(4);
  if (v !== '${expected}') { throw new Error('wrong value ' + v); }
  if (typeof scaledDotProductAttention !== 'function') { throw new Error('missing scaledDotProductAttention'); }
  console.log(KIND + ' ok on ' + backend + ': ' + v);`;
  writeFileSync(
    join(scratch, 'use.cjs'),
    `const { attention, initBackend, scaledDotProductAttention } = require('tfjs-attention');\nconst KIND = 'cjs';\n(async () => {${body}\n})().catch((e) => { console.error(e); process.exit(1); });\n`,
  );
  writeFileSync(
    join(scratch, 'use.mjs'),
    `import { attention, initBackend, scaledDotProductAttention } from 'tfjs-attention';\nconst KIND = 'esm';\n${body}\n`,
  );
  for (const script of ['use.cjs', 'use.mjs']) {
    process.stdout.write(run('node', [script], scratch).split('\n').filter((l) => l.endsWith(expected)).join('\n') + '\n');
  }
  console.log(`check-package: ${packed[0].filename} (${files.length} files) imports in CJS and ESM consumers`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
