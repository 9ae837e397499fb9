/** `synthgrad backend setup | info`: build the native TensorFlow backend, say which backend runs. */
import { describeBackend, initBackend, setupNativeBackend, SynthgradError } from '@synthgrad/core';
import { parse } from '../args.js';

import { BACKEND_HELP as BACKEND_USAGE } from '../help.js';

export async function backendCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'setup':
      return setup(rest);
    case 'info':
      return info(rest);
    default:
      throw new SynthgradError(sub ? `unknown backend command "${sub}"\n\n${BACKEND_USAGE}` : BACKEND_USAGE, 'E_USAGE');
  }
}

async function setup(argv: string[]): Promise<void> {
  const { values } = parse(argv, { gpu: { type: 'boolean' }, force: { type: 'boolean' }, required: { type: 'boolean' } }, BACKEND_USAGE);
  const required = values.required || process.env.SYNTHGRAD_REQUIRE_NATIVE === '1';
  const flavour = values.gpu ? 'gpu' : 'cpu';
  try {
    const res = await setupNativeBackend({ flavour, force: values.force, log: (m) => process.stderr.write(`${m}\n`) });
    process.stdout.write(`${JSON.stringify(res)}\n`);
  } catch (e) {
    if (required || !(e instanceof SynthgradError)) throw e;
    process.stderr.write(`synthgrad: native TensorFlow backend (${flavour}) not built: ${e.message.split('\n')[0]}; the wasm backend will be used\n`);
  }
}

async function info(argv: string[]): Promise<void> {
  const { values } = parse(argv, {}, BACKEND_USAGE);
  const b = await initBackend({ backend: values.backend });
  process.stderr.write(`${describeBackend(b)}\n`);
  process.stdout.write(`${JSON.stringify(b)}\n`);
}
