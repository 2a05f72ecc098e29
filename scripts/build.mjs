#!/usr/bin/env node
/**
 * Builds dist/: an ES module bundle (index.mjs), a CommonJS bundle (index.js)
 * and the type declarations (types/), with esbuild and tsc. tfjs stays
 * external (the user's instance is the one used); the optional tfjs-node is
 * loaded at run time only if it is installed.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });
const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  platform: 'neutral',
  target: 'es2020',
  sourcemap: true,
  external: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'node:*'],
  logLevel: 'warning',
};
await build({ ...common, format: 'esm', outfile: 'dist/index.mjs' });
await build({ ...common, format: 'cjs', outfile: 'dist/index.js' });
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// The ES-module entry's own declaration file: TypeScript reads dist/types/*.d.ts
// as CommonJS (the package has no "type": "module"), so the `import` condition
// gets an .d.mts that re-exports them as an ES module.
writeFileSync('dist/index.d.mts', "export * from './types/index.js';\n");
console.log('build: dist/index.mjs (ESM) + index.d.mts, dist/index.js (CJS), dist/types/index.d.ts');
