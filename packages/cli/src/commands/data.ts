/** `synthgrad data ...`: get the default data set, and split a data set among simulated owners. */
import { parse } from '../args.js';
import { FlagReader } from '../flags.js';
import { DATA_HELP } from '../help.js';
import { UsageError } from '../usage-error.js';
import { didYouMean } from '../suggest.js';

const SUBCOMMANDS = ['pull', 'split'];

export async function dataCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'split') {
    const { values } = parse(
      rest,
      { data: { type: 'string' }, task: { type: 'string' }, parts: { type: 'string' }, 'per-class': { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
      DATA_HELP,
      'data',
    );
    const r: FlagReader = new FlagReader(values, {}, 'data');
    const parts = r.list('parts');
    if (!parts?.length) r.fail('parts', 'is required (names of the shards, e.g. --parts a,b,c)');
    if (!r.has('out')) r.fail('out', 'is required (the folder for the shards)');
    const out = r.outputDir('out', '');
    const perClass = r.optInt('per-class');
    const seed = r.int('seed', 0, 0);
    const dataFlag = r.inputFile('data');
    const core = await import('@synthgrad/core');
    const task = core.resolveTask(r.str('task') ?? 'sentiment');
    for (const p of core.writeShards(core.readExamples(dataFlag ?? core.defaultDataPath(), task), task, parts, out, perClass, seed)) process.stdout.write(`${p}\n`);
    return;
  }
  if (sub !== 'pull') throw new UsageError(`unknown data command "${sub}"${didYouMean(sub ?? '', SUBCOMMANDS, (s) => `"${s}"`)}`, 'data');
  const { values } = parse(rest, { 'cache-dir': { type: 'string' } }, DATA_HELP, 'data');
  const { pullDataset } = await import('@synthgrad/core');
  const res = await pullDataset({ cacheDir: values['cache-dir'], log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${res.path}\n`);
}
