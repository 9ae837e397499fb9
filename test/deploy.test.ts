/**
 * deploy/ stays consistent with the CLI: every synthgrad command line in the Dockerfile, the compose
 * file and the Kubernetes manifests names a command that exists and only flags it accepts (the CLI
 * validates the flags, then `--help` exits 0 without doing anything).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'packages/cli/bin/synthgrad.js');
const built = existsSync(join(root, 'packages/cli/dist/main.js'));

interface CommandLine {
  where: string;
  argv: string[];
}

/** `synthgrad ...` invocations inside a shell script: one per line, up to a redirection or `;`. */
function fromShell(script: string, where: string): CommandLine[] {
  const out: CommandLine[] = [];
  for (const line of script.split('\n')) {
    const m = /(?:^|[\s;&|(])(?:synthgrad|node \S*synthgrad\.js)\s+([^;&|>]*)/.exec(line);
    if (m) out.push({ where, argv: shellWords(m[1]!) });
  }
  return out;
}

/** Split on blanks, keeping quoted words (values like "$$(cat /parties/session-id)") whole. */
function shellWords(s: string): string[] {
  return [...s.matchAll(/"[^"]*"|'[^']*'|\S+/g)].map((m) => m[0]);
}

/** Walk parsed YAML, collecting container and compose commands. */
function fromYaml(node: unknown, where: string, out: CommandLine[], entrypointIsSynthgrad = true): void {
  if (Array.isArray(node)) {
    for (const x of node) fromYaml(x, where, out, entrypointIsSynthgrad);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  const entry = o.entrypoint as string[] | undefined;
  const shell = Array.isArray(entry) && entry[0] === '/bin/sh';
  for (const key of ['command', 'args', 'test']) {
    const v = o[key];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
      const words = v as string[];
      if (shell || (key === 'command' && words[0] === '/bin/sh')) for (const w of words) out.push(...fromShell(w, where));
      else if (words[0] === 'synthgrad') out.push({ where, argv: words.slice(1) });
      else if (words[0] === 'CMD' && words[1] === 'synthgrad') out.push({ where, argv: words.slice(2) });
      else if ((key === 'args' || key === 'command') && entrypointIsSynthgrad && /^[a-z]/.test(words[0] ?? '')) out.push({ where, argv: words });
    }
  }
  for (const [k, v] of Object.entries(o)) if (typeof v === 'object') fromYaml(v, `${where}.${k}`, out, entrypointIsSynthgrad);
}

function collect(): CommandLine[] {
  const out: CommandLine[] = [];
  const dockerfile = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
  for (const line of dockerfile.split('\n').filter((l) => l.startsWith('RUN'))) {
    for (const part of line.split('&&')) out.push(...fromShell(part, 'Dockerfile'));
  }
  const yamls = ['deploy/compose.yaml', ...readdirSync(join(root, 'deploy/k8s')).map((f) => `deploy/k8s/${f}`)];
  for (const file of yamls) {
    for (const doc of parseAllDocuments(readFileSync(join(root, file), 'utf8'), { merge: true })) {
      expect(doc.errors, file).toEqual([]);
      fromYaml(doc.toJS(), file, out);
    }
  }
  return out;
}

describe.runIf(built)('deploy/ matches the CLI', () => {
  const commands = collect();

  it('finds the commands the deployment needs', () => {
    const names = new Set(commands.map((c) => c.argv.slice(0, 2).join(' ')));
    for (const n of ['model pull', 'data pull', 'data split', 'coordinator tls-init', 'coordinator add-client', 'coordinator start', 'coordinator health', 'coordinator create-session', 'client run']) {
      expect(names, n).toContain(n);
    }
  });

  it('every command and flag exists', () => {
    for (const c of commands) {
      // Placeholders that the shell or Kubernetes fills in at run time are values, never flags.
      const argv = c.argv.map((w) => w.replace(/^["']|["']$/g, ''));
      const r = spawnSync(process.execPath, [bin, ...argv, '--help'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${c.where}: synthgrad ${argv.join(' ')}\n${r.stderr}`).toBe(0);
    }
  });
});
