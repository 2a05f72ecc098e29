/// <reference types="vite/client" />
/**
 * The browser demo: loads the trained dates model (public/model/), and as the
 * user types, shows the translation and the live attention heatmap.
 * Backend: webgl where available, else wasm, else cpu.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
// Importing the library registers its layers, so the saved model can be loaded.
import { heatmapSvg, initBackend } from '../../src';
import { inputLabels } from '../dates/data';
import { translate } from '../dates/model';

// Served cross-origin isolated (npm run demo, for the kernel's threads), tfjs-backend-wasm 4.22 would pick its
// threaded build, whose workers break once bundled ("e is not defined"): keep tfjs's own wasm backend on one thread.
if (globalThis.crossOriginIsolated === true) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

const input = document.querySelector<HTMLInputElement>('#date')!;
const output = document.querySelector<HTMLDivElement>('#translation')!;
const heatmap = document.querySelector<HTMLDivElement>('#heatmap')!;
const status = document.querySelector<HTMLParagraphElement>('#status')!;

/** webgl, else wasm, else cpu: the first that sets and computes. */
async function pickBackend(): Promise<string> {
  const wanted = new URLSearchParams(location.search).get('backend');
  const order = wanted ? [wanted] : ['webgl', 'wasm', 'cpu'];
  for (const name of order) {
    try {
      await initBackend(name as 'webgl' | 'wasm' | 'cpu');
      tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
      return name;
    } catch {
      // try the next one
    }
  }
  throw new Error(`no backend among ${order.join(', ')} could be set`);
}

function show(model: tf.LayersModel, text: string): void {
  const labels = inputLabels(text);
  if (labels.length === 0) {
    output.textContent = '…';
    heatmap.innerHTML = '';
    return;
  }
  const { iso, weights } = translate(model, [text]);
  output.textContent = iso[0];
  heatmap.innerHTML = heatmapSvg(
    weights[0].map((row) => row.slice(0, labels.length)),
    { rowLabels: [...iso[0]], colLabels: labels.map((c) => (c === ' ' ? '␣' : c)), range: [0, 1] },
  );
}

async function main(): Promise<void> {
  const backend = await pickBackend();
  const model = await tf.loadLayersModel(new URL('model/model.json', document.baseURI).href);
  show(model, input.value);
  input.addEventListener('input', () => show(model, input.value));
  status.textContent = `backend: ${backend}; model: ${model.countParams()} parameters`;
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  status.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
  document.body.dataset.ready = 'error';
});
