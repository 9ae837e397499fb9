// How precisely does `bench quality` place its bars? Its real-random-100 row is 3 runs, run s
// training on balanced draw s with training seed s. This prints that estimate next to the mean
// over DRAWS balanced draws x 10 training seeds each (the protocol's student, test split and
// head mode), with the spread of the draws' means. ROW=prompted-few does the same for
// prompted-few-100, whose bench row is one generation (seed 0) trained with seeds 0-2: here draw d
// is the generation at seed d.
//   [ROW=prompted-few] DRAWS=10 node scripts/experiments/baseline-spread.mjs TRAIN.jsonl TEST.jsonl
import * as ev from '@synthgrad/eval';
import { openProtocol, pct, mean, trainStudent } from './protocol.mjs';

const protocol = await openProtocol('baseline-spread.mjs', process.argv.slice(2), { generations: false });
const { rt, task, all } = protocol;
const DRAWS = Number(process.env.DRAWS ?? 10);
const N = Number(process.env.N ?? 100);
const acc = (exs, seed) => trainStudent(protocol, exs, seed).testAccuracy;
const ROW = process.env.ROW ?? 'real-random';
// The bench's prompted row for the built-in task: 4 real demonstrations, domain "movie review".
const draw = (d) => (ROW === 'real-random' ? ev.balancedSubset(all, N, d) : ev.generatePromptedSet(rt, task, { n: N, k: 4, pool: all, domain: 'movie review', seed: d, source: ROW }));
const grid = Array.from({ length: DRAWS }, (_, d) => {
  const exs = draw(d);
  const per = Array.from({ length: 10 }, (_, s) => acc(exs, s));
  console.error(`draw ${d}: ${pct(mean(per))}`);
  return per;
});
const drawMeans = grid.map(mean);
const sd = (xs) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
console.log(JSON.stringify({
  row: `${ROW}-${N}`,
  draws: DRAWS,
  // the bench's 3 runs: real-random trains draw s with seed s; prompted-few draw 0 with seeds 0-2
  bench_estimate: pct(mean([0, 1, 2].map((s) => (ROW === 'real-random' ? grid[s][s] : grid[0][s])))),
  bench_runs: [0, 1, 2].map((s) => pct(ROW === 'real-random' ? grid[s][s] : grid[0][s])),
  grand_mean: pct(mean(drawMeans)),
  draw_means: drawMeans.map(pct),
  draw_sd: pct(sd(drawMeans)),
  run_sd: pct(sd(grid.flat())),
}));
