/** `synthgrad data ...`: get the default data set, and split a data set among simulated owners. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDataPath, pullDataset, readExamples, resolveTask, splitIntoShards, SynthgradError, type Task } from '@synthgrad/core';
import { intFlag, parse } from '../args.js';

export const DATA_USAGE = `usage:
  synthgrad data pull [--cache-dir DIR]            fetch the default data set (movie-review snippets from the
                                                   vaderSentiment 3.3.2 source archive on PyPI) as task JSONL
  synthgrad data split --parts a,b,c --out DIR [--data FILE] [--task sentiment] [--per-class N] [--seed S]
                                                   disjoint class-balanced shards DIR/a.jsonl, ... (default data set
                                                   unless --data), to play several data owners`;

export async function dataCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'split') {
    const { values } = parse(
      rest,
      { data: { type: 'string' }, task: { type: 'string' }, parts: { type: 'string' }, 'per-class': { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
      DATA_USAGE,
    );
    if (!values.parts || !values.out) throw new SynthgradError(`--parts and --out are required\n\n${DATA_USAGE}`, 'E_USAGE');
    for (const p of writeShards(values.data ?? defaultDataPath(), resolveTask(values.task ?? 'sentiment'), values.parts.split(',').map((x) => x.trim()).filter(Boolean), values.out, values['per-class'] === undefined ? undefined : intFlag(values['per-class'], 'per-class', 1), intFlag(values.seed, 'seed', 0, 0))) {
      process.stdout.write(`${p}\n`);
    }
    return;
  }
  if (sub !== 'pull') throw new SynthgradError(sub ? `unknown data command "${sub}"\n\n${DATA_USAGE}` : DATA_USAGE, 'E_USAGE');
  const { values } = parse(rest, { 'cache-dir': { type: 'string' } }, DATA_USAGE);
  const res = await pullDataset({ cacheDir: values['cache-dir'], log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${res.path}\n`);
}

/** Split a data file into disjoint shards and write DIR/NAME.jsonl for each; returns the paths. */
export function writeShards(dataPath: string, task: Task, names: string[], outDir: string, perClass?: number, seed = 0): string[] {
  const bad = names.find((n) => !/^[A-Za-z0-9._-]{1,64}$/.test(n));
  if (bad !== undefined) throw new SynthgradError(`shard name ${JSON.stringify(bad)} must be 1-64 characters of [A-Za-z0-9._-]`, 'E_USAGE');
  mkdirSync(outDir, { recursive: true });
  return splitIntoShards(readExamples(dataPath, task), task, names, perClass, seed).map((s) => {
    const path = join(outDir, `${s.name}.jsonl`);
    writeFileSync(path, s.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return path;
  });
}
