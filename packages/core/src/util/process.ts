/** Run a command to completion; failures become one clear SynthgradError with the output's tail. */
import { spawn } from 'node:child_process';
import { SynthgradError } from './errors.js';

export function runCommand(cmd: string, args: string[], what: string, opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new SynthgradError(e.code === 'ENOENT' ? `${what}: ${cmd} is not installed or not on PATH` : `${what}: ${e.message}`, 'E_PULL')),
    );
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new SynthgradError(`${what} failed (exit ${code}):\n${out.trim().split('\n').slice(-8).join('\n')}`, 'E_PULL')),
    );
  });
}
