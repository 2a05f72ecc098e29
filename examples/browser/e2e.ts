/**
 * End-to-end test of the browser pages in a real browser: builds them with
 * Vite, serves them on 127.0.0.1, drives Debian's Chromium headless with
 * playwright-core.
 * - The demo (index.html): types two dates, checks the translations and the
 *   number of heatmap cells, and saves a screenshot to examples/out/.
 * - The fused wasm kernel on threads (threads.html), served twice: with
 *   Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy (cross-origin
 *   isolated: a dedicated Worker must run it synchronously on 2 threads,
 *   forward and backward, and the main thread's wasmFusedAttentionAsync on 2
 *   worker threads), and without them (one thread everywhere, and
 *   wasmKernelStatus() says why). Every output must equal the page's float64
 *   reference within 1e-5.
 *
 * Run: npm run test:browser   (needs /usr/bin/chromium: apt-get install -y chromium)
 * `npm run test:browser -- --bench` also prints the kernel's speed on the
 * isolated threads page (B=1 N=8 T=S=2048 H=64 forward, median of 5; figures,
 * not checks; `--bench=4096` for another length).
 * Environment: CHROMIUM=/path/to/chromium to use another binary;
 * BACKEND=wasm|cpu|webgl to force the page's backend (default: its own choice).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
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

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, so the kernel's threads). */
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** A static file server over `dir` on 127.0.0.1 (random port), adding `headers` to every response. */
function serve(dir: string, headers: Record<string, string> = {}): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = path.join(dir, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...headers });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function fail(message: string): never {
  throw new Error(`browser test: ${message}`);
}

/** What threads.html reports (see threads.ts). */
interface ThreadsReport {
  error?: string;
  crossOriginIsolated: boolean;
  status: { available: boolean; threads: number; threadsNote?: string; asyncThreads?: number };
  statusThreadsSet: { threads: number; threadsNote?: string; asyncThreads?: number };
  sync: { threads: number; maxError: number };
  async: { threads: number; maxError: number; ticks: number };
  worker: {
    status: { available: boolean; threads: number; threadsNote?: string };
    forwardThreads: number;
    backwardThreads: number;
    gradsMatchOneThread: boolean;
    maxError: number;
  };
}

const TOLERANCE = 1e-5;

/** Loads threads.html from `origin` and returns the failed checks (empty when all pass). */
async function checkThreads(context: BrowserContext, origin: string, isolated: boolean): Promise<string[]> {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${origin}/threads.html`);
    await page.waitForFunction(() => document.body.dataset.ready !== undefined);
    const r = JSON.parse((await page.textContent('#result')) ?? '{}') as ThreadsReport;
    const name = isolated ? 'threads page, cross-origin isolated' : 'threads page, not isolated';
    if (r.error) return [`${name}: ${r.error}`];
    const want = isolated ? 2 : 1;
    const checks: Array<[string, boolean, unknown]> = [
      ['crossOriginIsolated', r.crossOriginIsolated === isolated, r.crossOriginIsolated],
      ['kernel available', r.status.available === true, r.status],
      ['main thread, synchronous: 1 thread', r.sync.threads === 1, r.sync.threads],
      [`main thread, synchronous: max error <= ${TOLERANCE}`, r.sync.maxError <= TOLERANCE, r.sync.maxError],
      ['main thread after setWasmKernelThreads(2): status.threads 1 (synchronous calls)', r.statusThreadsSet.threads === 1, r.statusThreadsSet],
      [`main thread, wasmFusedAttentionAsync: ${want} thread(s)`, r.async.threads === want, r.async.threads],
      [`main thread, wasmFusedAttentionAsync: max error <= ${TOLERANCE}`, r.async.maxError <= TOLERANCE, r.async.maxError],
      [`Worker: status.threads ${want} after wasmKernelReady()`, r.worker.status.threads === want, r.worker.status],
      [`Worker, synchronous forward: ${want} thread(s)`, r.worker.forwardThreads === want, r.worker.forwardThreads],
      [`Worker, synchronous backward: ${want} thread(s)`, r.worker.backwardThreads === want, r.worker.backwardThreads],
      ['Worker: gradients equal to one thread\'s, bit for bit', r.worker.gradsMatchOneThread === true, r.worker.gradsMatchOneThread],
      [`Worker, synchronous forward: max error <= ${TOLERANCE}`, r.worker.maxError <= TOLERANCE, r.worker.maxError],
    ];
    if (isolated) {
      checks.push(['main thread: status.asyncThreads 2', r.statusThreadsSet.asyncThreads === 2, r.statusThreadsSet]);
    } else {
      const why = /not cross-origin isolated/;
      checks.push(['main thread: threadsNote says the page is not isolated', why.test(r.status.threadsNote ?? ''), r.status.threadsNote]);
      checks.push(['Worker: threadsNote says the page is not isolated', why.test(r.worker.status.threadsNote ?? ''), r.worker.status.threadsNote]);
    }
    const failed: string[] = [];
    for (const [what, ok, got] of checks) {
      console.log(`${ok ? 'ok' : 'FAILED'}: ${name}: ${what} (got ${JSON.stringify(got)})`);
      if (!ok) failed.push(`${name}: ${what}`);
    }
    console.log(`${name}: timer ticks on the page while wasmFusedAttentionAsync ran: ${r.async.ticks}`);
    if (errors.length > 0) failed.push(`${name}: page errors: ${errors.join('; ')}`);
    return failed;
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) fail(`no Chromium at ${executablePath} (apt-get install -y chromium)`);
  await build({ configFile: path.join(ROOT, 'vite.config.mts'), logLevel: 'warn' });
  const server = await serve(DIST);
  const port = (server.address() as AddressInfo).port;
  const isolatedServer = await serve(DIST, ISOLATION);
  const isolatedPort = (isolatedServer.address() as AddressInfo).port;
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
    // The demo served cross-origin isolated, on tfjs's wasm backend (which then must not pick its threaded build).
    const isolatedDemo = await context.newPage();
    isolatedDemo.setDefaultTimeout(TIMEOUT);
    await isolatedDemo.goto(`http://127.0.0.1:${isolatedPort}/?backend=wasm`);
    await isolatedDemo.waitForFunction(() => document.body.dataset.ready !== undefined);
    const isoStatus = await isolatedDemo.textContent('#status');
    const isoGot = (await isolatedDemo.textContent('#translation'))?.trim();
    const isoOk = (await isolatedDemo.getAttribute('body', 'data-ready')) === 'true' && isoGot === CASES[0].iso;
    console.log(`${isoOk ? 'ok' : 'FAILED'}: demo, cross-origin isolated, wasm backend: ${isoStatus}; "${CASES[0].text}" → "${isoGot}"`);
    await isolatedDemo.close();
    if (!isoOk) fail('the demo failed when cross-origin isolated on the wasm backend');
    const threadFailures = [
      ...(await checkThreads(context, `http://127.0.0.1:${isolatedPort}`, true)),
      ...(await checkThreads(context, `http://127.0.0.1:${port}`, false)),
    ];
    if (threadFailures.length > 0) fail(`failed: ${threadFailures.join('; ')}`);
    const benchArg = process.argv.find((a) => a === '--bench' || a.startsWith('--bench='));
    if (benchArg) {
      const T = Number(benchArg.split('=')[1] ?? 2048);
      const page = await context.newPage();
      page.setDefaultTimeout(600_000);
      await page.goto(`http://127.0.0.1:${isolatedPort}/threads.html?bench=${T}&runs=5`);
      await page.waitForFunction(() => document.body.dataset.ready !== undefined);
      console.log(`bench (Chromium, cross-origin isolated): ${await page.textContent('#result')}`);
      await page.close();
    }
  } finally {
    await context.close();
    server.close();
    isolatedServer.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

const LIMIT_S = process.argv.some((a) => a.startsWith('--bench')) ? 900 : 180;
const timer = setTimeout(() => {
  console.error(`browser test: timed out after ${LIMIT_S} s`);
  process.exit(1);
}, LIMIT_S * 1000);
timer.unref();

main().then(
  () => console.log('browser test passed'),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
