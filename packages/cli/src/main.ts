/** The `synthgrad` command: dispatch to a command module; user errors print one clear line. */
import { SynthgradError } from '@synthgrad/core';
import { HelpRequested } from './args.js';
import { modelCommand, MODEL_USAGE } from './commands/model.js';
import { dataCommand, DATA_USAGE } from './commands/data.js';
import { benchCommand, BENCH_USAGE } from './commands/bench.js';
import { backendCommand, BACKEND_USAGE } from './commands/backend.js';
import { clientCommand, coordinatorCommand, FEDERATED_USAGE } from './commands/federated.js';
import { demoCommand, DEMO_USAGE } from './commands/demo.js';
import { compareCommand, evalCommand, EVAL_USAGE } from './commands/eval.js';
import { generateCommand, selectCommand, GENERATE_USAGE } from './commands/generate.js';

const USAGE = `synthgrad: synthetic text by gradient matching

commands:
  model pull | inspect | next-token     get and exercise the language model
  data pull                             get the default data set
  backend setup | info                  build the native TensorFlow backend; which backend runs here
  coordinator | client                  federated synthesis over gRPC
  demo                                  a coordinator and three clients on loopback
  generate                              labelled text -> synthetic text by gradient matching (GRADMM)
  select                                label check, dedup and ranking of generated text
  eval | compare                        fine-tune on a data set, held-out accuracy, the baseline table
  bench                                 benchmarks (JSON)

${GENERATE_USAGE}
${MODEL_USAGE}
${DATA_USAGE}
${BACKEND_USAGE}
${BENCH_USAGE}
${FEDERATED_USAGE}
${DEMO_USAGE}
${EVAL_USAGE}`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'model':
      return modelCommand(rest);
    case 'data':
      return dataCommand(rest);
    case 'backend':
      return backendCommand(rest);
    case 'coordinator':
      return coordinatorCommand(rest);
    case 'client':
      return clientCommand(rest);
    case 'eval':
      return evalCommand(rest);
    case 'compare':
      return compareCommand(rest);
    case 'demo':
      return demoCommand(rest);
    case 'bench':
      return benchCommand(rest);
    case 'generate':
      return generateCommand(rest);
    case 'select':
      return selectCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new SynthgradError(`unknown command "${cmd}"\n\n${USAGE}`, 'E_USAGE');
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof HelpRequested) {
    process.stdout.write(`${e.usage}\n`);
    process.exit(0);
  }
  if (e instanceof SynthgradError) {
    process.stderr.write(`synthgrad: ${e.message}\n`);
    process.exit(e.code === 'E_USAGE' ? 2 : 1);
  }
  process.stderr.write(`synthgrad: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(70);
});
