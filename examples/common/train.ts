/**
 * Shared scaffolding of the examples: command-line flags, a training loop
 * over batches with a cli-progress bar (epoch, loss, accuracy), timing.
 */
import * as tf from '@tensorflow/tfjs';
import cliProgress from 'cli-progress';

/** `--name value` or `--name=value` from argv; `undefined` when absent. */
export function flag(name: string, argv: string[] = process.argv.slice(2)): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}`) return argv[i + 1] ?? '';
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** Whether a boolean flag such as `--quick` was given. */
export function hasFlag(name: string, argv: string[] = process.argv.slice(2)): boolean {
  return argv.includes(`--${name}`);
}

/** What `trainLoop` needs from an example. */
export interface TrainSpec {
  model: tf.LayersModel;
  epochs: number;
  batchesPerEpoch: number;
  /** Builds batch `i` of epoch `epoch`: inputs and one-hot targets. */
  batch: (epoch: number, i: number) => { x: tf.Tensor | tf.Tensor[]; y: tf.Tensor | tf.Tensor[] };
  /** Held-out accuracy in [0, 1], computed after each epoch (shown on the bar). */
  evaluate: () => number;
  /** Stop early once the held-out accuracy reaches this. Default: never. */
  target?: number;
  /** Stop when this many seconds have passed (checked after each batch). Default: no limit. */
  maxSeconds?: number;
  /** Called after each epoch, e.g. to lower the learning rate. */
  onEpochEnd?: (epoch: number, acc: number) => void;
}

/** What `trainLoop` measured. */
export interface TrainResult {
  epochs: number;
  /** Batches trained. */
  batches: number;
  loss: number;
  accuracy: number;
  seconds: number;
}

/**
 * Trains with `trainOnBatch`, showing a progress bar of batches with the
 * epoch, the running loss and the last held-out accuracy.
 */
export async function trainLoop(spec: TrainSpec): Promise<TrainResult> {
  const start = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epoch}/{epochs} [{bar}] {percentage}% | loss {loss} | held-out acc {acc} | {elapsed}s',
      barsize: 30,
      hideCursor: true,
      noTTYOutput: !process.stdout.isTTY,
      notTTYSchedule: 5000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = spec.epochs * spec.batchesPerEpoch;
  bar.start(total, 0, { epoch: 1, epochs: spec.epochs, loss: '-', acc: '-', elapsed: '0' });
  let loss = NaN;
  let accuracy = 0;
  let epoch = 0;
  let outOfTime = false;
  let batches = 0;
  const timeUp = () => spec.maxSeconds !== undefined && (Date.now() - start) / 1000 > spec.maxSeconds;
  for (; epoch < spec.epochs && !outOfTime; epoch++) {
    let sum = 0;
    for (let i = 0; i < spec.batchesPerEpoch; i++) {
      if (timeUp()) {
        outOfTime = true;
        break;
      }
      const { x, y } = spec.batch(epoch, i);
      const out = await spec.model.trainOnBatch(x, y);
      tf.dispose([x, y] as tf.Tensor[]);
      const l = Array.isArray(out) ? out[0] : out;
      sum += l;
      batches++;
      loss = sum / (i + 1);
      bar.update(epoch * spec.batchesPerEpoch + i + 1, {
        epoch: epoch + 1,
        loss: loss.toFixed(4),
        elapsed: ((Date.now() - start) / 1000).toFixed(0),
      });
      // Let the bar's redraw timer run (trainOnBatch resolves in microtasks).
      await new Promise((resolve) => setImmediate(resolve));
    }
    accuracy = spec.evaluate();
    bar.update({ acc: `${(accuracy * 100).toFixed(1)}%` });
    spec.onEpochEnd?.(epoch, accuracy);
    if ((spec.target !== undefined && accuracy >= spec.target) || timeUp()) {
      epoch++;
      break;
    }
  }
  bar.update(Math.min(epoch * spec.batchesPerEpoch, total));
  bar.stop();
  return { epochs: epoch, batches, loss, accuracy, seconds: (Date.now() - start) / 1000 };
}

/** Exits with an error message when `ok` is false (the quick modes' end-to-end checks). */
export function check(ok: boolean, message: string): void {
  if (!ok) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
  console.log(`ok: ${message}`);
}
