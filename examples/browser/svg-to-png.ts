/**
 * Renders an SVG file to PNG with headless Chromium (for README pictures).
 *
 * Run: npx tsx examples/browser/svg-to-png.ts docs/dates-heatmap.svg docs/dates-heatmap.png
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

async function main(): Promise<void> {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) throw new Error('usage: svg-to-png.ts in.svg out.png');
  const svg = fs.readFileSync(input, 'utf8');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    deviceScaleFactor: 2,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    await page.setContent(`<body style="margin:0;background:#fff">${svg}</body>`);
    await page.locator('svg').first().screenshot({ path: output });
    console.log(`wrote ${output}`);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
