/**
 * Vite config of the browser pages: `npx vite examples/browser` to develop,
 * `npx vite build examples/browser` to build into examples/browser/dist.
 * Two pages: the demo (index.html) and the wasm kernel's threads check
 * (threads.html, with its module Worker), both run by e2e.ts.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    target: 'es2020',
    chunkSizeWarningLimit: 4000,
    rollupOptions: { input: { index: here('index.html'), threads: here('threads.html') } },
  },
  // ES module workers: the library's code is split into chunks, which classic (iife) workers cannot load.
  worker: { format: 'es' },
  // `npx vite examples/browser` serves the pages cross-origin isolated, so threads.html can use threads.
  server: {
    host: '127.0.0.1',
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  },
  preview: { host: '127.0.0.1' },
});
