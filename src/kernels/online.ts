/**
 * The online (chunked) kernel: per block of query rows, the keys are taken
 * in chunks with an online softmax (Rabe & Staats 2021; Dao et al. 2022,
 * FlashAttention), so no more than a `[b, c]` block of scores exists at once,
 * and the gradient (`tf.customGrad`) recomputes each block from the saved
 * log-sum-exp instead of keeping it. No `returnWeights`, no dropout while
 * training, no `bias` (the planner checks). Its ops run inside
 * `tf.customGrad`, where no tape records them, so `fromData` (rows cut from
 * the inputs' data, see `SliceContext`) is safe wherever reading data is cheap.
 *
 * Shape legend: L slices, T query length, S key length, H depth, Hv value
 * depth, b a query block, c a key chunk.
 */
import * as tf from '@tensorflow/tfjs';
import { exactProduct } from '../ops/masked_softmax';
import { blockScores, keyRange, mayHaveEmptyRows, paddingOnly, queryBlocks, SliceContext } from './blocked';
import type { KernelInput, KernelOutput } from './contract';

/**
 * The log-sum-exp of a row with no visible key: a finite stand-in for
 * -Infinity, so that merging two empty chunks gives no `-Inf - -Inf = NaN`.
 * Any real log-sum-exp is far above it, and `exp(NEG - x)` is 0.
 */
const NEG = -3.0e38;

/**
 * The softmax of a chunk `[b, c]` with hidden keys at weight 0, and its
 * log-sum-exp `[b, 1]` (NEG for a row with nothing visible in the chunk),
 * from the backend's softmax kernel (on wasm much faster than `exp`):
 * `lse = max(s) − log(max(softmax(s)))`, since the largest weight is
 * `exp(max(s) − lse)`. Runs inside `tf.customGrad`, so no tape is recorded.
 */
function chunkSoftmax(scores: tf.Tensor, hides: boolean, mayBeEmpty: boolean): { weights: tf.Tensor; lse: tf.Tensor } {
  const m = tf.max(scores, 1, true);
  if (!mayBeEmpty && !hides) {
    const weights = tf.softmax(scores);
    return { weights, lse: tf.sub(m, tf.log(tf.max(weights, 1, true))) };
  }
  // A row with nothing visible in this chunk: weights 0, log-sum-exp NEG.
  const empty = tf.equal(m, -Infinity);
  const zeros = tf.zerosLike(scores);
  const weights = tf.where(empty, zeros, tf.softmax(tf.where(empty, zeros, scores)));
  const lse = tf.where(empty, tf.fill(m.shape, NEG), tf.sub(m, tf.log(tf.max(weights, 1, true))));
  return { weights, lse };
}

/**
 * Forward pass: per query block, the running log-sum-exp and the running
 * normalised output are merged with each chunk's as it arrives. Returns the
 * output `[T, Hv]` and each row's log-sum-exp `[T, 1]`, per slice.
 */
function onlineForward(ctx: SliceContext, queryBlock: number, keyChunk: number): { out: tf.Tensor[]; lse: tf.Tensor[] } {
  const { inp, T, S, Hv } = ctx;
  const mayBeEmpty = mayHaveEmptyRows(inp, T, S);
  // A padding mask alone: zeroing the values of the keys it hides is exact.
  const padding = paddingOnly(inp);
  const out: tf.Tensor[] = [];
  const lse: tf.Tensor[] = [];
  for (let l = 0; l < ctx.L; l++) {
    const sl = ctx.load(l);
    const rows: tf.Tensor[] = [];
    const lses: tf.Tensor[] = [];
    for (const [t0, t1] of queryBlocks(T, queryBlock)) {
      const b = t1 - t0;
      const [lo, hi] = keyRange(inp, S, t0, t1);
      // Running log-sum-exp `lse` and normalised output `acc` of the chunks seen so far.
      let lseRun: tf.Tensor = tf.fill([b, 1], NEG);
      let acc: tf.Tensor = tf.zeros([b, Hv]);
      for (let c0 = lo; c0 < hi; c0 += keyChunk) {
        const c1 = Math.min(hi, c0 + keyChunk);
        const next = tf.tidy(() => {
          const { scores, hides } = blockScores(ctx, sl, t0, t1, c0, c1);
          const { weights, lse: lseC } = chunkSoftmax(scores, hides, mayBeEmpty);
          const pv = !hides
            ? tf.matMul(weights, sl.rows('v', c0, c1))
            : padding
              ? tf.matMul(weights, sl.rows('vKeys', c0, c1))
              : exactProduct(weights, sl.rows('clean', c0, c1), sl.rows('bad', c0, c1));
          // Merge: lse' = logaddexp(lse, lseC); acc' = acc·e^(lse−lse') + (P_c·V_c)·e^(lseC−lse').
          const top = tf.maximum(lseRun, lseC);
          const lseNew = tf.add(top, tf.log(tf.add(tf.exp(tf.sub(lseRun, top)), tf.exp(tf.sub(lseC, top)))));
          return [lseNew, tf.add(tf.mul(acc, tf.exp(tf.sub(lseRun, lseNew))), tf.mul(pv, tf.exp(tf.sub(lseC, lseNew))))];
        });
        tf.dispose([lseRun, acc]);
        [lseRun, acc] = next;
      }
      if (inp.emptyRows === 'uniform' && mayBeEmpty) {
        // Rows that saw no key: the mean of all values, as Keras.
        const filled = tf.tidy(() => tf.where(tf.lessEqual(lseRun, NEG / 2), tf.tile(sl.mean(), [b, 1]), acc));
        acc.dispose();
        acc = filled;
      }
      rows.push(acc);
      lses.push(lseRun);
    }
    out.push(rows.length === 1 ? rows[0] : tf.concat(rows, 0));
    lse.push(lses.length === 1 ? lses[0] : tf.concat(lses, 0));
    if (rows.length > 1) tf.dispose([...rows, ...lses]);
    ctx.unload();
  }
  ctx.release();
  return { out, lse };
}

/**
 * Backward pass: recomputes each `[b, c]` block of probabilities from the
 * saved log-sum-exp (`P = softmax_c(S)·exp(lse_c − lse)`). With O the output
 * and dO its gradient, D = rowsum(dO ∘ O):
 * dV += Pᵀ·dO; dS = P ∘ (dO·Vᵀ − D); dQ += dS·K·scale; dK += dSᵀ·(Q·scale).
 * Hidden values enter dO·Vᵀ as 0 (their P is 0). Empty rows under
 * `'uniform'` add dO/S to every key's dV.
 */
function onlineBackward(
  ctx: SliceContext,
  queryBlock: number,
  keyChunk: number,
  out: tf.Tensor[],
  lse: tf.Tensor[],
  dy: tf.Tensor[],
): { dq: tf.Tensor[]; dk: tf.Tensor[]; dv: tf.Tensor[] } {
  const { inp, T, S, Hv, H } = ctx;
  const mayBeEmpty = mayHaveEmptyRows(inp, T, S);
  const dq: tf.Tensor[] = [];
  const dk: tf.Tensor[] = [];
  const dv: tf.Tensor[] = [];
  for (let l = 0; l < ctx.L; l++) {
    const sl = ctx.load(l);
    const dqRows: tf.Tensor[] = [];
    let dkAcc: tf.Tensor = tf.zeros([S, H]);
    let dvAcc: tf.Tensor = tf.zeros([S, Hv]);
    for (const [t0, t1] of queryBlocks(T, queryBlock)) {
      const b = t1 - t0;
      const [lo, hi] = keyRange(inp, S, t0, t1);
      const dO = tf.slice(dy[l], [t0, 0], [b, Hv]);
      const D = tf.tidy(() => tf.sum(tf.mul(dO, tf.slice(out[l], [t0, 0], [b, Hv])), 1, true));
      const lseB = tf.slice(lse[l], [t0, 0], [b, 1]);
      const qB = sl.rows('q', t0, t1);
      let dqAcc: tf.Tensor = tf.zeros([b, H]);
      for (let c0 = lo; c0 < hi; c0 += keyChunk) {
        const c1 = Math.min(hi, c0 + keyChunk);
        const next = tf.tidy(() => {
          const { scores, hides } = blockScores(ctx, sl, t0, t1, c0, c1);
          const c = chunkSoftmax(scores, hides, mayBeEmpty);
          const p = tf.mul(c.weights, tf.exp(tf.sub(c.lse, lseB)));
          const vb = sl.rows(hides ? 'clean' : 'v', c0, c1);
          const kb = sl.rows('k', c0, c1);
          const dP = tf.matMul(dO, tf.transpose(vb));
          const dS = tf.mul(p, tf.sub(dP, D));
          const dvC = tf.matMul(tf.transpose(p), dO);
          const dkC = tf.matMul(tf.transpose(dS), qB);
          const pad = [[c0, S - c1], [0, 0]] as Array<[number, number]>;
          return [tf.add(dqAcc, tf.matMul(dS, kb)), tf.add(dkAcc, tf.pad(dkC, pad)), tf.add(dvAcc, tf.pad(dvC, pad))];
        });
        tf.dispose([dqAcc, dkAcc, dvAcc]);
        [dqAcc, dkAcc, dvAcc] = next;
      }
      if (inp.emptyRows === 'uniform' && mayBeEmpty) {
        const next = tf.tidy(() => {
          const emptyDy = tf.where(tf.lessEqual(lseB, NEG / 2), dO, tf.zerosLike(dO));
          return tf.add(dvAcc, tf.div(tf.sum(emptyDy, 0, true), S));
        });
        dvAcc.dispose();
        dvAcc = next;
      }
      tf.dispose([dO, D, lseB, qB]);
      dqRows.push(dqAcc);
    }
    dq.push(tf.tidy(() => tf.mul(dqRows.length === 1 ? dqRows[0] : tf.concat(dqRows, 0), inp.scale)));
    tf.dispose(dqRows);
    dk.push(dkAcc);
    dv.push(dvAcc);
    ctx.unload();
  }
  ctx.release();
  return { dq, dk, dv };
}

/** Splits `[..., R, C]` into L tensors `[R, C]`. Call inside `tf.tidy`. */
function slices(x: tf.Tensor): tf.Tensor[] {
  const [R, C] = x.shape.slice(-2);
  const x3 = tf.reshape(x, [-1, R, C]);
  return Array.from({ length: x3.shape[0] }, (_, l) => tf.reshape(tf.slice(x3, [l, 0, 0], [1, R, C]), [R, C]));
}

/**
 * The online kernel, differentiable with respect to query, key and value.
 *
 * @returns `{ output }` with output `[..., T, Hv]`.
 */
export function onlineAttention(inp: KernelInput, queryBlock: number, keyChunk: number, fromData: boolean): KernelOutput {
  const r = inp.query.rank;
  const lead = inp.query.shape.slice(0, r - 2);
  const T = inp.query.shape[r - 2];
  const Hv = inp.value.shape[r - 1];
  const forward = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
    const [value, lseAll] = tf.tidy(() => {
      const { out, lse } = onlineForward(new SliceContext({ ...inp, query: q, key: k, value: v }, fromData), queryBlock, keyChunk);
      return [tf.reshape(tf.stack(out), [...lead, T, Hv]), tf.stack(lse)];
    });
    // The mask is saved too: the caller's copy is gone by the time the gradient is computed.
    save([q, k, v, value, lseAll, ...(inp.mask === null ? [] : [inp.mask])]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sq, sk, sv, sOut, sLse, sMask] = saved;
          const again = new SliceContext({ ...inp, query: sq, key: sk, value: sv, mask: inp.mask === null ? null : sMask }, fromData);
          const g = onlineBackward(again, queryBlock, keyChunk, slices(sOut), tf.unstack(sLse), slices(dy));
          return [
            tf.reshape(tf.stack(g.dq), sq.shape),
            tf.reshape(tf.stack(g.dk), sk.shape),
            tf.reshape(tf.stack(g.dv), sv.shape),
          ];
        }),
    };
  };
  const run = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return { output: tf.tidy(() => run(inp.query, inp.key, inp.value)) };
}
