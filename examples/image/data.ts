/**
 * Synthetic images for the image-recognition example: one shape per image
 * (square, ring, triangle, cross, diagonal cross), drawn at a random position and
 * size with random brightness, plus Gaussian noise; and the cutting of
 * images into patches for a tiny vision transformer.
 */
import { makeRng } from '../dates/data';

/** Image side, in pixels. */
export const IMAGE_SIZE = 16;
/** Patch side, in pixels. */
export const PATCH_SIZE = 4;
/** Patches per side and in all. */
export const GRID = IMAGE_SIZE / PATCH_SIZE;
export const NUM_PATCHES = GRID * GRID;

export const SHAPES = ['square', 'ring', 'triangle', 'cross', 'x'] as const;
export type Shape = (typeof SHAPES)[number];

/** Whether pixel (x, y), relative to the shape's centre, lies in `shape` of radius r. */
function inside(shape: Shape, dx: number, dy: number, r: number): boolean {
  const d = Math.hypot(dx, dy);
  switch (shape) {
    case 'square':
      return Math.abs(dx) <= r && Math.abs(dy) <= r;
    case 'triangle':
      // Apex up: y from -r (top) to r (base), half width grows linearly.
      return dy >= -r && dy <= r && Math.abs(dx) <= (dy + r) / 2;
    case 'cross':
      return (Math.abs(dx) <= r / 3 && Math.abs(dy) <= r) || (Math.abs(dy) <= r / 3 && Math.abs(dx) <= r);
    case 'x':
      return Math.abs(dx) <= r && Math.abs(dy) <= r && (Math.abs(dx - dy) <= r / 3 || Math.abs(dx + dy) <= r / 3);
    case 'ring':
      return d <= r && d >= r - 1.6;
  }
}

/** One image `[IMAGE_SIZE * IMAGE_SIZE]` (row-major, values about 0..1) of `shape`. */
export function drawShape(shape: Shape, rng: () => number, noise = 0.15): Float32Array {
  const img = new Float32Array(IMAGE_SIZE * IMAGE_SIZE);
  const r = 4 + rng() * 3; // radius 4..7 px
  const cx = r + rng() * (IMAGE_SIZE - 1 - 2 * r);
  const cy = r + rng() * (IMAGE_SIZE - 1 - 2 * r);
  const bright = 0.6 + 0.4 * rng();
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      // Box-Muller noise.
      const n = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
      img[y * IMAGE_SIZE + x] = (inside(shape, x - cx, y - cy, r) ? bright : 0) + noise * n;
    }
  }
  return img;
}

/** `n` labelled images from `seed`: pixels `[n, IMAGE_SIZE²]` and labels (indices into SHAPES). */
export function generateImages(n: number, seed: number): { pixels: Float32Array[]; labels: number[] } {
  const rng = makeRng(seed);
  const pixels: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = Math.floor(rng() * SHAPES.length);
    pixels.push(drawShape(SHAPES[label], rng));
    labels.push(label);
  }
  return { pixels, labels };
}

/**
 * Cuts images into patches, row by row, and puts an all-zero "class token"
 * patch first: `[n, 1 + NUM_PATCHES, PATCH_SIZE²]` as a flat array.
 */
export function toPatches(pixels: Float32Array[]): Float32Array {
  const P = PATCH_SIZE * PATCH_SIZE;
  const T = 1 + NUM_PATCHES;
  const out = new Float32Array(pixels.length * T * P);
  pixels.forEach((img, b) => {
    for (let py = 0; py < GRID; py++) {
      for (let px = 0; px < GRID; px++) {
        const t = 1 + py * GRID + px;
        for (let y = 0; y < PATCH_SIZE; y++) {
          for (let x = 0; x < PATCH_SIZE; x++) {
            out[(b * T + t) * P + y * PATCH_SIZE + x] = img[(py * PATCH_SIZE + y) * IMAGE_SIZE + px * PATCH_SIZE + x];
          }
        }
      }
    }
  });
  return out;
}
