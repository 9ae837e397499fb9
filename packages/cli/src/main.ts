/**
 * The `synthgrad` command: dispatch to a command module, loaded on demand (the ML stack takes
 * seconds to import, so help, --version and usage errors must not touch it); user errors print one
 * clear line.
 */
import { readFileSync } from 'node:fs';
import { isSynthgradError } from '@synthgrad/core/errors';
import { HelpRequested } from './args.js';
import { UsageError } from './usage-error.js';
import { didYouMean } from './suggest.js';
import { BACKEND_HELP, DATA_HELP, FEDERATED_HELP, MAIN_HELP, MODEL_HELP, TASK_HELP } from './help.js';

type Run = (argv: string[]) => Promise<void>;

/** Each command's module is imported only when that command runs. */
const COMMANDS: Record<string, Run> = {
  generate: async (a) => (await import('./commands/generate.js')).generateCommand(a),
  select: async (a) => (await import('./commands/generate.js')).selectCommand(a),
  eval: async (a) => (await import('./commands/eval.js')).evalCommand(a),
  compare: async (a) => (await import('./commands/eval.js')).compareCommand(a),
  model: async (a) => (await import('./commands/model.js')).modelCommand(a),
  data: async (a) => (await import('./commands/data.js')).dataCommand(a),
  task: async (a) => (await import('./commands/task.js')).taskCommand(a),
  coordinator: async (a) => {
    // create-session's flags are read and checked before the federated commands (and the ML stack they import) load.
    if (a[0] === 'create-session') {
      const flags = (await import('./commands/session-flags.js')).parseCreateSessionFlags(a.slice(1));
      return (await import('./commands/federated.js')).createSessionCommand(flags);
    }
    return (await import('./commands/federated.js')).coordinatorCommand(a);
  },
  client: async (a) => (await import('./commands/federated.js')).clientCommand(a),
  demo: async (a) => (await import('./commands/demo.js')).demoCommand(a),
  bench: async (a) => (await import('./commands/bench.js')).benchCommand(a),
  backend: async (a) => (await import('./commands/backend.js')).backendCommand(a),
  audit: async (a) => (await import('./commands/audit.js')).auditCommand(a),
  privacy: async (a) => (await import('./commands/privacy.js')).privacyCommand(a),
};

/** `synthgrad GROUP --help` (or no subcommand) for the commands that have subcommands. */
const GROUP_HELP: Record<string, () => Promise<string>> = {
  model: async () => MODEL_HELP,
  data: async () => DATA_HELP,
  task: async () => TASK_HELP,
  coordinator: async () => FEDERATED_HELP,
  client: async () => FEDERATED_HELP,
  backend: async () => BACKEND_HELP,
};

const isHelp = (a: string | undefined) => a === '--help' || a === '-h' || a === 'help';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `synthgrad ${pkg.version} (node ${process.versions.node})`;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || isHelp(cmd)) {
    process.stdout.write(`${MAIN_HELP}\n`);
    return;
  }
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    throw new UsageError(`unknown command "${cmd}"${didYouMean(cmd, Object.keys(COMMANDS), (s) => `"${s}"`)}; see "synthgrad --help" for the list`);
  }
  const group = GROUP_HELP[cmd];
  if (group && (rest.length === 0 || isHelp(rest[0]))) {
    const text = await group();
    if (rest.length === 0) throw new UsageError(`"synthgrad ${cmd}" needs a subcommand\n\n${text}`);
    process.stdout.write(`${text}\n`);
    return;
  }
  await run(rest);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof HelpRequested) {
    process.stdout.write(`${e.usage}\n`);
    process.exit(0);
  }
  if (isSynthgradError(e)) {
    process.stderr.write(`synthgrad: ${e.message}\n`);
    process.exit(e.code === 'E_USAGE' ? 2 : 1);
  }
  process.stderr.write(`synthgrad: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(70);
});
