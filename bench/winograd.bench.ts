/**
 * Winograd F(2x2, 3x3) (src/kernels/winograd.ts) against im2col + GEMM (conv2d.ts) for the MNIST
 * CNN's second convolution: 26x26x32 input, 3x3 kernel, 64 filters, batch 16, on one core.
 * Both run on the wasm GEMM, first the copying one of gemmFor('wasm'), then arenaGemm with
 * every buffer in an arena, as the training workers run it. The forward pass is timed whole
 * and phase by phase; the backward passes whole, as a training step, and phase by phase.
 *
 * Effective GFLOP/s counts the direct convolution's 2 * N*P*Q * R*S*C * K flops for both, so
 * the numbers compare times. The candidates run in interleaved rounds (A, B, C, ... then again),
 * so a load change from other processes hits all of them alike. The table shows the median and
 * minimum per-call time over all rounds, and the load average is printed before and after. Every Winograd output and
 * gradient is checked against the naive convolution (conv2d-naive.ts) before timing.
 *
 * Run: node --import tsx bench/winograd.bench.ts [rounds]
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Rng } from '../src/core/random.js';
import { Arena } from '../src/core/arena.js';
import { arenaGemm, gemmFor } from '../src/gemm/backend.js';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, convGeometry, im2col } from '../src/kernels/conv2d.js';
import { conv2dBackwardFilterNaive, conv2dBackwardInputNaive, conv2dForwardNaive } from '../src/kernels/conv2d-naive.js';
import {
  WINOGRAD_POSITIONS,
  winogradBackward,
  winogradFilterGradientTransform,
  winogradFilterTransform,
  winogradForwardKeepingInput,
  winogradInputGradientTransform,
  winogradOutputGradientTransform,
  winogradForward,
  winogradInputTransform,
  winogradMultiply,
  winogradOutputTransform,
  winogradScratchLengths,
  winogradTiling,
  type WinogradLayout,
} from '../src/kernels/winograd.js';

const N = 16;
/** Calls per candidate per round; the median is taken over all calls of all rounds. */
const CALLS_PER_ROUND = 5;

function seeded(length: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length }, () => rng.uniform(-1, 1));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function formatLoad(): string {
  return loadavg().map((value) => value.toFixed(2)).join(' ');
}

interface Candidate {
  name: string;
  run: () => void;
  /**
   * Flops for the last column: the GEMM flops a phase really does, or three direct passes for a
   * training step. The column is empty when omitted.
   */
  flops?: number;
}

export function runWinogradBench(rounds: number): void {
  const g = convGeometry(26, 26, 32, 3, 3, 64, 1, 1, 'valid');
  const tiling = winogradTiling(g);
  const rows = N * g.outH * g.outW;
  const depth = g.kH * g.kW * g.inC;
  const directFlops = 2 * rows * depth * g.outC;
  const totalTiles = N * tiling.tilesPerImage;
  const x = seeded(N * g.inH * g.inW * g.inC, 1);
  const w = seeded(depth * g.outC, 2);
  const reference = new Float32Array(rows * g.outC);
  conv2dForwardNaive(reference, x, w, N, g);
  const gemm = gemmFor('wasm');

  const yIm2col = new Float32Array(rows * g.outC);
  const cols = new Float32Array(rows * depth);
  const u = new Float32Array(WINOGRAD_POSITIONS * g.inC * g.outC);
  winogradFilterTransform(u, w, g.inC, g.outC);

  const chunkSizes = [totalTiles, 4 * tiling.tilesPerImage, tiling.tilesPerImage, 48];
  const layouts: WinogradLayout[] = ['planar', 'interleaved'];
  const candidates: Candidate[] = [
    { name: 'im2col + GEMM (conv2dForward)', run: () => conv2dForward(yIm2col, x, w, cols, N, g, gemm) },
  ];
  const full = winogradScratchLengths(g, totalTiles);
  const vFull = new Float32Array(full.v);
  const mFull = new Float32Array(full.m);
  for (const layout of layouts) {
    for (const chunk of chunkSizes) {
      const lengths = winogradScratchLengths(g, chunk);
      const v = chunk === totalTiles ? vFull : new Float32Array(lengths.v);
      const m = chunk === totalTiles ? mFull : new Float32Array(lengths.m);
      const y = new Float32Array(rows * g.outC);
      const run = (): void => winogradForward(y, x, u, v, m, N, g, tiling, chunk, layout, gemm);
      run();
      let worst = 0;
      for (let i = 0; i < y.length; i++) {
        const error = Math.abs(y[i] - reference[i]);
        if (!(error <= 1e-4 * depth)) throw new Error(`winograd ${layout} chunk ${chunk}: y[${i}] is ${y[i]}, expected ${reference[i]}`);
        worst = Math.max(worst, error);
      }
      console.log(`winograd ${layout}, chunks of ${chunk} tiles: max |y - naive| = ${worst.toExponential(2)} (tolerance ${1e-4 * depth})`);
      candidates.push({ name: `winograd ${layout}, chunks of ${chunk}`, run });
    }
  }
  conv2dForward(yIm2col, x, w, cols, N, g, gemm);
  let worstIm2col = 0;
  for (let i = 0; i < yIm2col.length; i++) worstIm2col = Math.max(worstIm2col, Math.abs(yIm2col[i] - reference[i]));
  console.log(`im2col + GEMM: max |y - naive| = ${worstIm2col.toExponential(2)}`);

  // Phases on their own: im2col, and Winograd over the whole batch at once (chunk = all tiles).
  const winogradGemmFlops = WINOGRAD_POSITIONS * 2 * totalTiles * g.inC * g.outC;
  const yPhase = new Float32Array(rows * g.outC);
  candidates.push(
    { name: 'phase: im2col only', run: () => im2col(cols, x, N, g) },
    {
      name: 'phase: im2col GEMM only',
      run: () => gemm(false, false, rows, g.outC, depth, 1, cols, 0, depth, w, 0, g.outC, 0, yIm2col, 0, g.outC),
    },
    { name: 'phase, planar, all tiles: input transform', run: () => winogradInputTransform(vFull, x, g, tiling, 0, totalTiles, 'planar') },
    {
      name: 'phase, planar, all tiles: 16 GEMMs',
      run: () => winogradMultiply(mFull, vFull, u, g.inC, g.outC, totalTiles, 'planar', gemm),
      flops: winogradGemmFlops,
    },
    {
      name: 'phase, planar, all tiles: output transform',
      run: () => winogradOutputTransform(yPhase, mFull, g, tiling, 0, totalTiles, 'planar'),
    },
    { name: 'phase: filter transform (once per update)', run: () => winogradFilterTransform(u, w, g.inC, g.outC) },
  );

  // The same phases in chunks of one image's tiles, each phase over every chunk in turn, so
  // that V and M of a chunk stay in cache as they do inside winogradForward.
  const imageTiles = tiling.tilesPerImage;
  const image = winogradScratchLengths(g, imageTiles);
  const vImage = new Float32Array(image.v);
  const mImage = new Float32Array(image.m);
  const eachChunk = (phase: (start: number) => void) => (): void => {
    for (let start = 0; start < totalTiles; start += imageTiles) phase(start);
  };
  for (const layout of layouts) {
    candidates.push(
      {
        name: `phase, ${layout}, chunks of ${imageTiles}: input transform`,
        run: eachChunk((start) => winogradInputTransform(vImage, x, g, tiling, start, imageTiles, layout)),
      },
      {
        name: `phase, ${layout}, chunks of ${imageTiles}: 16 GEMMs`,
        run: eachChunk(() => winogradMultiply(mImage, vImage, u, g.inC, g.outC, imageTiles, layout, gemm)),
        flops: winogradGemmFlops,
      },
      {
        name: `phase, ${layout}, chunks of ${imageTiles}: output transform`,
        run: eachChunk((start) => winogradOutputTransform(yPhase, mImage, g, tiling, start, imageTiles, layout)),
      },
    );
  }

  // The training workers run the GEMM through arenaGemm, with operands inside the shared
  // arena read and written in place (no copy into the GEMM's memory, any row stride for free).
  // The same comparison with every buffer in an arena:
  const arena = new Arena(undefined, { initialBytes: 256 << 20 });
  const arenaMultiply = arenaGemm('wasm', arena);
  const toArena = (values: Float32Array): Float32Array => {
    const copy = arena.allocFloat32(values.length);
    copy.set(values);
    return copy;
  };
  const xArena = toArena(x);
  const wArena = toArena(w);
  const uArena = toArena(u);
  const yArenaIm2col = arena.allocFloat32(rows * g.outC);
  const colsArena = arena.allocFloat32(rows * depth);
  candidates.push({
    name: 'arena: im2col + GEMM (conv2dForward)',
    run: () => conv2dForward(yArenaIm2col, xArena, wArena, colsArena, N, g, arenaMultiply),
  });
  for (const layout of layouts) {
    for (const chunk of [totalTiles, imageTiles]) {
      const lengths = winogradScratchLengths(g, chunk);
      const v = arena.allocFloat32(lengths.v);
      const m = arena.allocFloat32(lengths.m);
      const y = arena.allocFloat32(rows * g.outC);
      const run = (): void => winogradForward(y, xArena, uArena, v, m, N, g, tiling, chunk, layout, arenaMultiply);
      run();
      for (let i = 0; i < y.length; i++) {
        if (!(Math.abs(y[i] - reference[i]) <= 1e-4 * depth)) {
          throw new Error(`arena winograd ${layout} chunk ${chunk}: y[${i}] is ${y[i]}, expected ${reference[i]}`);
        }
      }
      candidates.push({ name: `arena: winograd ${layout}, chunks of ${chunk}`, run });
      if (chunk !== imageTiles) continue;
      candidates.push(
        {
          name: `arena phase, ${layout}, chunks of ${imageTiles}: input transform`,
          run: eachChunk((start) => winogradInputTransform(v, xArena, g, tiling, start, imageTiles, layout)),
        },
        {
          name: `arena phase, ${layout}, chunks of ${imageTiles}: 16 GEMMs`,
          run: eachChunk(() => winogradMultiply(m, v, uArena, g.inC, g.outC, imageTiles, layout, arenaMultiply)),
          flops: winogradGemmFlops,
        },
        {
          name: `arena phase, ${layout}, chunks of ${imageTiles}: output transform`,
          run: eachChunk((start) => winogradOutputTransform(y, m, g, tiling, start, imageTiles, layout)),
        },
      );
    }
  }
  candidates.push(
    { name: 'arena phase: im2col only', run: () => im2col(colsArena, xArena, N, g) },
    {
      name: 'arena phase: im2col GEMM only',
      run: () => arenaMultiply(false, false, rows, g.outC, depth, 1, colsArena, 0, depth, wArena, 0, g.outC, 0, yArenaIm2col, 0, g.outC),
    },
  );

  // Backward passes. The baselines are conv2d's own, in the arena. Here the 16 GEMMs of each
  // Winograd pass are timed alone, over the whole batch, in both layouts:
  //   filter gradient  dU[xi] [C, K] = V[xi]^T [C, tiles] * dM[xi] [tiles, K], dM = A dY A^T
  //   input gradient   dV[xi] [tiles, C] = dM[xi] [tiles, K] * U[xi]^T [K, C]
  const dYArena = toArena(seeded(rows * g.outC, 3));
  const dXArena = arena.allocFloat32(x.length);
  const dWArena = arena.allocFloat32(w.length);
  conv2dForward(yArenaIm2col, xArena, wArena, colsArena, N, g, arenaMultiply);
  candidates.push(
    {
      name: 'arena: im2col backward filter (conv2dBackwardFilter)',
      run: () => conv2dBackwardFilter(dWArena, dYArena, colsArena, N, g, arenaMultiply),
    },
    {
      name: 'arena: im2col backward input (conv2dBackwardInput)',
      run: () => conv2dBackwardInput(dXArena, dYArena, wArena, colsArena, N, g, arenaMultiply),
    },
  );
  const vWhole = arena.allocFloat32(full.v);
  const dMWhole = arena.allocFloat32(full.m);
  const dVWhole = arena.allocFloat32(full.v);
  const dUArena = arena.allocFloat32(u.length);
  vWhole.set(seeded(full.v, 4));
  dMWhole.set(seeded(full.m, 5));
  for (const layout of layouts) {
    const vStride = layout === 'planar' ? { tile: g.inC, position: totalTiles * g.inC } : { tile: WINOGRAD_POSITIONS * g.inC, position: g.inC };
    const mStride = layout === 'planar' ? { tile: g.outC, position: totalTiles * g.outC } : { tile: WINOGRAD_POSITIONS * g.outC, position: g.outC };
    candidates.push(
      {
        name: `arena: winograd ${layout} backward filter, 16 GEMMs only`,
        run: () => {
          for (let xi = 0; xi < WINOGRAD_POSITIONS; xi++) {
            arenaMultiply(true, false, g.inC, g.outC, totalTiles, 1, vWhole, xi * vStride.position, vStride.tile,
              dMWhole, xi * mStride.position, mStride.tile, 0, dUArena, xi * g.inC * g.outC, g.outC);
          }
        },
        flops: winogradGemmFlops,
      },
      {
        name: `arena: winograd ${layout} backward input, 16 GEMMs only`,
        run: () => {
          for (let xi = 0; xi < WINOGRAD_POSITIONS; xi++) {
            arenaMultiply(false, true, totalTiles, g.inC, g.outC, 1, dMWhole, xi * mStride.position, mStride.tile,
              uArena, xi * g.inC * g.outC, g.outC, 0, dVWhole, xi * vStride.position, vStride.tile);
          }
        },
        flops: winogradGemmFlops,
      },
    );
  }

  // Winograd backward (winogradBackward), checked against the naive gradients, then timed
  // alone and as a whole training step (forward keeping V, then backward) against im2col.
  const dY = seeded(rows * g.outC, 3);
  const dXReference = new Float32Array(x.length);
  const dWReference = new Float32Array(w.length);
  conv2dBackwardInputNaive(dXReference, dY, w, N, g);
  conv2dBackwardFilterNaive(dWReference, dY, x, N, g);
  const vKept = arena.allocFloat32(full.v);
  const dWWinograd = arena.allocFloat32(w.length);
  const dXWinograd = arena.allocFloat32(x.length);
  const dUScratch = arena.allocFloat32(u.length);
  const yKept = arena.allocFloat32(rows * g.outC);
  for (const chunk of [totalTiles, imageTiles]) {
    const lengths = winogradScratchLengths(g, chunk);
    const mChunk = arena.allocFloat32(lengths.m);
    const dVChunk = arena.allocFloat32(lengths.v);
    const forward = (): void => winogradForwardKeepingInput(yKept, xArena, uArena, vKept, mChunk, N, g, tiling, chunk, arenaMultiply);
    const backward = (): void =>
      winogradBackward(dXWinograd, dWWinograd, dYArena, vKept, uArena, mChunk, dVChunk, dUScratch, N, g, tiling, chunk, arenaMultiply);
    forward();
    dWWinograd.fill(0);
    backward();
    const checks: [string, Float32Array, Float32Array, number][] = [
      ['y', yKept, reference, depth],
      ['dX', dXWinograd, dXReference, g.kH * g.kW * g.outC],
      ['dW', dWWinograd, dWReference, rows],
    ];
    for (const [name, actual, expected, terms] of checks) {
      let worst = 0;
      for (let i = 0; i < expected.length; i++) {
        const error = Math.abs(actual[i] - expected[i]);
        if (!(error <= 1e-4 * terms)) throw new Error(`winograd backward chunk ${chunk}: ${name}[${i}] is ${actual[i]}, expected ${expected[i]}`);
        worst = Math.max(worst, error);
      }
      console.log(`winograd backward, chunks of ${chunk}: max |${name} - naive| = ${worst.toExponential(2)} (tolerance ${1e-4 * terms})`);
    }
    candidates.push(
      { name: `arena: winograd backward (filter + input), chunks of ${chunk}`, run: backward },
      {
        name: `arena: winograd step (forward keeping V + backward), chunks of ${chunk}`,
        run: () => {
          forward();
          backward();
        },
        flops: 3 * directFlops,
      },
    );
  }
  {
    const dYPhase = dYArena;
    const lengths = winogradScratchLengths(g, imageTiles);
    const mChunk = arena.allocFloat32(lengths.m);
    const dVChunk = arena.allocFloat32(lengths.v);
    candidates.push(
      {
        name: `arena backward phase, chunks of ${imageTiles}: output gradient transform`,
        run: eachChunk((start) => winogradOutputGradientTransform(mChunk, dYPhase, g, tiling, start, imageTiles, 'interleaved')),
      },
      {
        name: `arena backward phase, chunks of ${imageTiles}: input gradient transform`,
        run: eachChunk((start) => winogradInputGradientTransform(dXWinograd, dVChunk, g, tiling, start, imageTiles, 'interleaved')),
      },
      { name: 'arena backward phase: filter gradient transform', run: () => winogradFilterGradientTransform(dWWinograd, dUScratch, g.inC, g.outC) },
    );
  }
  candidates.push({
    name: 'arena: im2col step (forward + backward filter + backward input)',
    run: () => {
      conv2dForward(yArenaIm2col, xArena, wArena, colsArena, N, g, arenaMultiply);
      conv2dBackwardFilter(dWArena, dYArena, colsArena, N, g, arenaMultiply);
      conv2dBackwardInput(dXArena, dYArena, wArena, colsArena, N, g, arenaMultiply);
    },
    flops: 3 * directFlops,
  });

  const loadBefore = formatLoad();
  for (const candidate of candidates) for (let i = 0; i < 3; i++) candidate.run();
  const times = candidates.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    candidates.forEach((candidate, index) => {
      for (let call = 0; call < CALLS_PER_ROUND; call++) {
        const start = performance.now();
        candidate.run();
        times[index].push(performance.now() - start);
      }
    });
  }
  const loadAfter = formatLoad();

  console.log(`load average (1, 5, 15 min): before ${loadBefore}, after ${loadAfter}`);
  console.log(`${rounds} rounds x ${CALLS_PER_ROUND} calls per candidate, interleaved; direct flops ${directFlops}`);
  console.table(
    candidates.map((candidate, index) => {
      const ms = median(times[index]);
      return {
        candidate: candidate.name,
        'median ms': Number(ms.toFixed(3)),
        'min ms': Number(Math.min(...times[index]).toFixed(3)),
        'effective GFLOP/s': Number((directFlops / (ms * 1e6)).toFixed(1)),
        'own GFLOP/s': candidate.flops === undefined ? '' : Number((candidate.flops / (ms * 1e6)).toFixed(1)),
      };
    }),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = Number(process.argv[2] ?? 10);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`rounds must be a positive integer, got ${process.argv[2]}`);
  runWinogradBench(rounds);
}
