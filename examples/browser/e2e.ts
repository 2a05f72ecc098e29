/**
 * End-to-end test of the browser demo in a real browser: builds the page
 * with Vite, serves it on 127.0.0.1, drives Debian's Chromium headless with
 * playwright-core, types two dates, checks the translations and the number
 * of heatmap cells, and saves a screenshot to examples/out/.
 *
 * Run: npm run test:browser   (needs /usr/bin/chromium: apt-get install -y chromium)
 * Environment: CHROMIUM=/path/to/chromium to use another binary;
 * BACKEND=wasm|cpu|webgl to force the page's backend (default: its own choice).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const ROOT = __dirname;
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(ROOT, '..', 'out');
const TIMEOUT = 60_000;

const CASES = [
  { text: '24 November 2026', iso: '2026-11-24' },
  { text: 'Tuesday 24th of November 2026', iso: '2026-11-24' },
];

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
};

/** A static file server over `dir` on 127.0.0.1 (random port). */
function serve(dir: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = path.join(dir, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function fail(message: string): never {
  throw new Error(`browser test: ${message}`);
}

async function main(): Promise<void> {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) fail(`no Chromium at ${executablePath} (apt-get install -y chromium)`);
  await build({ configFile: path.join(ROOT, 'vite.config.mts'), logLevel: 'warn' });
  const server = await serve(DIST);
  const port = (server.address() as AddressInfo).port;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-chromium-'));
  // An empty profile: launchPersistentContext passes it as --user-data-dir.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1100, height: 800 },
    timeout: TIMEOUT,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const query = process.env.BACKEND ? `?backend=${encodeURIComponent(process.env.BACKEND)}` : '';
    await page.goto(`http://127.0.0.1:${port}/${query}`);
    await page.waitForFunction(() => document.body.dataset.ready !== undefined);
    const status = await page.textContent('#status');
    console.log(`page: ${status}`);
    if ((await page.getAttribute('body', 'data-ready')) !== 'true') fail(`the page did not start: ${status}`);
    let failures = 0;
    for (const { text, iso } of CASES) {
      await page.fill('#date', '');
      await page.type('#date', text, { delay: 5 });
      await page.waitForFunction(
        (n) => document.querySelectorAll('#heatmap g.cells rect').length === n,
        10 * text.length,
      );
      const got = (await page.textContent('#translation'))?.trim();
      const cells = await page.locator('#heatmap g.cells rect').count();
      const ok = got === iso && cells === 10 * text.length;
      if (!ok) failures++;
      console.log(`${ok ? 'ok' : 'FAILED'}: "${text}" → "${got}" (expected ${iso}); heatmap ${cells} cells (expected ${10 * text.length})`);
    }
    fs.mkdirSync(OUT, { recursive: true });
    const shot = path.join(OUT, 'browser-demo.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    if (errors.length > 0) fail(`page errors: ${errors.join('; ')}`);
    if (failures > 0) fail(`${failures} case(s) failed`);
  } finally {
    await context.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

const timer = setTimeout(() => {
  console.error('browser test: timed out after 180 s');
  process.exit(1);
}, 180_000);
timer.unref();

main().then(
  () => console.log('browser test passed'),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
