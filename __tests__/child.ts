/**
 * Runs a TypeScript snippet in a fresh Node process (through tsx), the way a
 * user's program would run: no jest setup, no backend chosen beforehand. The
 * snippet may import the library as `SRC` (replaced by the absolute path of
 * src/index.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runChild(code: string, env: Record<string, string | undefined> = {}): ChildResult {
  // Inside the project, so that the snippet resolves the project's node_modules.
  const cache = resolve(__dirname, '../node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'tfjs-attention-child-'));
  try {
    const file = join(dir, 'main.mts');
    writeFileSync(file, code.replace(/SRC/g, JSON.stringify(resolve(__dirname, '../src/index.ts')).slice(1, -1)));
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: resolve(__dirname, '..'),
      encoding: 'utf8',
      env: { ...process.env, TFJS_ATTENTION_BACKEND: undefined, ...env },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
