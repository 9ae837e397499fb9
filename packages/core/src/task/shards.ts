/**
 * Split one labelled data set into disjoint per-owner shards, class-balanced: what the demo and
 * `synthgrad data split` use to stand in for several data owners' private files.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SynthgradError } from '../util/errors.js';
import { toJsonl, writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import type { Example } from './data.js';
import type { Task } from './task.js';

export interface Shard {
  name: string;
  /** Rows in the task's own field names, ready to write as JSONL. */
  rows: Record<string, string | number>[];
}

/**
 * Each of `names` gets `perClass` examples of every class (or an equal share of each class when
 * perClass is omitted), drawn without replacement from a seeded shuffle: shards never overlap.
 */
export function splitIntoShards(examples: Example[], task: Task, names: string[], perClass?: number, seed = 0): Shard[] {
  if (names.length === 0) throw new SynthgradError('at least one shard name is needed', 'E_USAGE');
  if (new Set(names).size !== names.length) throw new SynthgradError(`shard names must differ: ${names.join(', ')}`, 'E_USAGE');
  const classes = task.labels.map((_, c) => Rng.derive(seed, 'split', c).shuffle(examples.filter((e) => e.label === c)));
  const take = perClass ?? Math.min(...classes.map((g) => Math.floor(g.length / names.length)));
  classes.forEach((g, c) => {
    if (g.length < take * names.length || take < 1) {
      throw new SynthgradError(
        `class ${JSON.stringify(task.labels[c]!.value)} has ${g.length} examples: not enough for ${names.length} shards of ${Math.max(take, 1)}`,
        'E_DATA',
      );
    }
  });
  return names.map((name, k) => ({
    name,
    rows: task.labels.flatMap((l, c) =>
      classes[c]!.slice(k * take, (k + 1) * take).map((e) => ({ [task.textField]: e.text, [task.labelField]: l.value })),
    ),
  }));
}

/** Shard names become file names: keep them to a safe alphabet. */
const SHARD_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Split `examples` (see splitIntoShards) and write `outDir/NAME.jsonl` for each shard, atomically;
 * returns the paths in the order of `names`. The folder is created when missing.
 */
export function writeShards(examples: Example[], task: Task, names: string[], outDir: string, perClass?: number, seed = 0): string[] {
  const bad = names.find((n) => !SHARD_NAME.test(n));
  if (bad !== undefined) throw new SynthgradError(`shard name ${JSON.stringify(bad)} must be 1-64 characters of [A-Za-z0-9._-]`, 'E_USAGE');
  const shards = splitIntoShards(examples, task, names, perClass, seed);
  mkdirSync(outDir, { recursive: true });
  return shards.map((s) => {
    const path = join(outDir, `${s.name}.jsonl`);
    writeFileAtomic(path, toJsonl(s.rows));
    return path;
  });
}
