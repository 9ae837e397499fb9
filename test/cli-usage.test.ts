/**
 * The command line before any work: help, --version, flag and path validation, config files.
 * Every case here must answer without loading the ML stack, so each is also timed (< 1 s).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'data.jsonl');
writeFileSync(data, '{"text": "a great film", "label": 1}\n{"text": "a bad film", "label": 0}\n');

function synthgrad(args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, cwd: dir });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** A usage error: exit 2, one line on stderr, nothing on stdout, answered in well under a second. */
function expectUsageError(args: string[], message: RegExp) {
  const r = synthgrad(args);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^synthgrad: /);
  expect(r.stdout).toBe('');
  expect(r.ms, `${args.join(' ')} took ${r.ms.toFixed(0)} ms`).toBeLessThan(1000);
  return r;
}

describe.runIf(built)('synthgrad help', () => {
  it('--version prints the package version', () => {
    const r = synthgrad(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^synthgrad 0\.\d+\.\d+ \(node \d+/);
    expect(r.ms).toBeLessThan(1000);
  });

  const helps: [string[], RegExp[]][] = [
    [['--help'], [/commands:/, /generate/, /examples:/]],
    [['generate', '--help'], [/usage: synthgrad generate/, /default synthgrad-out\/synthetic\.jsonl/, /--real-per-class N .*default 25/, /examples:/]],
    [['select', '--help'], [/usage: synthgrad select/, /examples:/]],
    [['eval', '--help'], [/usage: synthgrad eval/, /--seeds N\s+default 3/, /examples:/]],
    [['compare', '--help'], [/usage: synthgrad compare/, /default 100/, /examples:/]],
    [['model', '--help'], [/synthgrad model pull/, /examples:/]],
    [['data', '--help'], [/synthgrad data split/, /examples:/]],
    [['coordinator', '--help'], [/synthgrad coordinator tls-init/]],
    [['client', '--help'], [/synthgrad client run/]],
  ];
  for (const [args, patterns] of helps) {
    it(`${args.join(' ')} prints its own help and exits 0`, () => {
      const r = synthgrad(args);
      expect(r.code, r.stderr).toBe(0);
      for (const p of patterns) expect(r.stdout).toMatch(p);
      // Help of the light commands never loads the ML stack (coordinator/client load their package).
      if (args[0] !== 'coordinator' && args[0] !== 'client') expect(r.ms).toBeLessThan(1000);
    });
  }

  it('generate and select, eval and compare have different help texts', () => {
    expect(synthgrad(['generate', '--help']).stdout).not.toBe(synthgrad(['select', '--help']).stdout);
    expect(synthgrad(['eval', '--help']).stdout).not.toBe(synthgrad(['compare', '--help']).stdout);
  });
});

describe.runIf(built)('synthgrad usage errors: one line, exit 2, under a second, before any work', () => {
  it('a typo of a command or flag gets "did you mean"', () => {
    expectUsageError(['genrate'], /unknown command "genrate" \(did you mean "generate"\?\)/);
    expectUsageError(['generate', '--real-per-clas', '3'], /unknown flag --real-per-clas \(did you mean --real-per-class\?\)/);
    expectUsageError(['model', 'inspekt'], /unknown model command "inspekt" \(did you mean "inspect"\?\)/);
  });

  it('a flag without a value, and a negative number as a value', () => {
    expectUsageError(['generate', '--epsilon'], /--epsilon needs a value; see "synthgrad generate --help"/);
    expectUsageError(['generate', '--seed', '--select'], /--seed needs a value/);
    expectUsageError(['generate', '--epsilon', '-1', '--delta', '1e-5', '--clip', '1'], /--epsilon must be positive, got -1/);
  });

  it('numbers and enumerations', () => {
    expectUsageError(['generate', '--data', data, '--outer', 'many'], /--outer must be an integer >= 0, got "many"/);
    expectUsageError(['generate', '--data', data, '--lr', 'fast'], /--lr must be a number, got "fast"/);
    expectUsageError(['generate', '--data', data, '--preset', 'gpu'], /--preset must be one of paper, cpu, cpu-select, got "gpu"/);
    expectUsageError(['generate', '--data', data, '--distance', 'l1'], /--distance must be one of cosine, l2/);
    expectUsageError(['generate', '--data', data, '--sentence-end-cut', '1.5'], /--sentence-end-cut must be in \[0, 1\] \(0: no cut\), got 1\.5/);
    expectUsageError(['generate', '--data', data, '--length-spread', '1'], /--length-spread must be in \[0, 1\), got 1/);
    expectUsageError(['generate', '--data', data, '--no-copy-ngram', '1'], /--no-copy-ngram must be 0 \(off\) or at least 2/);
    expectUsageError(['generate', '--data', data, '--punctuation', 'yes'], /--punctuation must be one of on, off, got "yes"/);
    expectUsageError(['generate', '--data', data, '--commas', 'yes'], /--commas must be one of on, off, got "yes"/);
    expectUsageError(['generate', '--data', data, '--end-marks', 'yes'], /--end-marks must be one of target, lm, off, got "yes"/);
    expectUsageError(['generate', '--data', data, '--target-word-ranking', 'cosine'], /--target-word-ranking must be one of lens, lift, got "cosine"/);
    expectUsageError(['generate', '--data', data, '--drop-degenerate', 'yes'], /--drop-degenerate must be one of on, off, got "yes"/);
    expectUsageError(['generate', '--data', data, '--target-threshold', 'real'], /--target-threshold must be one of targets, generated, got "real"/);
    expectUsageError(['generate', '--data', data, '--target-filter-margin', '-1'], /--target-filter-margin must be/);
    expectUsageError(['generate', '--data', data, '--delta', '2', '--epsilon', '1', '--clip', '1'], /--delta must be between 0 and 1/);
    expectUsageError(['compare', '--task-data', data, '--test', data, '--dp-epsilon', 'abc'], /--dp-epsilon must be a number, got "abc"/);
    expectUsageError(['eval', '--train', data, '--test', data, '--mode', 'adapter'], /--mode must be one of head, lora, full/);
  });

  it('--rows names must exist', () => {
    expectUsageError(['compare', '--task-data', data, '--test', data, '--rows', 'zero-shot,gradm'], /--rows names an unknown row "gradm" \(did you mean "gradmm"\?\)/);
  });

  it('paths: a missing input, --out naming a folder, --out under a file', () => {
    expectUsageError(['generate', '--data', join(dir, 'absent.jsonl')], /--data names .*absent\.jsonl, which does not exist/);
    mkdirSync(join(dir, 'outdir'), { recursive: true });
    expectUsageError(['generate', '--data', data, '--out', join(dir, 'outdir')], /--out names .*outdir, which is a directory; give a file path/);
    expectUsageError(['generate', '--data', data, '--out', join(data, 'x', 'syn.jsonl')], /--out cannot be created: .*data\.jsonl is a file/);
    expectUsageError(['compare', '--task-data', data, '--test', data, '--out', data], /--out names .*data\.jsonl, which is a file, not a folder/);
    expectUsageError(['eval', '--test', data], /--train is required/);
  });
});

describe.runIf(built)('--config', () => {
  const cfg = (name: string, body: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
    return p;
  };

  it('errors name the key, with "did you mean" for unknown keys', () => {
    expectUsageError(['generate', '--config', cfg('a.json', { generate: { settings: { outer: 'x' } } })], /a\.json: generate\.settings\.outer must be an integer >= 0, got "x"/);
    expectUsageError(['generate', '--config', cfg('b.json', { generate: { perClas: 3 } })], /b\.json: unknown key generate\.perClas \(did you mean perClass\?\)/);
    expectUsageError(['generate', '--config', cfg('c.json', { generate: { settings: { outr: 3 } } })], /unknown key generate\.settings\.outr \(did you mean settings\.outer\?\)/);
    expectUsageError(['generate', '--config', cfg('d.json', { genrate: {} })], /d\.json: unknown section "genrate" \(did you mean "generate"\?\)/);
    expectUsageError(['generate', '--config', cfg('e.json', '{"generate": ')], /e\.json: malformed JSON/);
    expectUsageError(['generate', '--config', cfg('f.json', { generate: { privacy: { epsilon: -2, delta: 1e-5, clip: 1 } } })], /f\.json: generate\.privacy\.epsilon must be positive/);
    expectUsageError(['compare', '--config', cfg('g.json', { compare: { taskData: data, test: data, training: { mode: 'adapter' } } })], /g\.json: compare\.training\.mode must be one of head, lora, full/);
    expectUsageError(['eval', '--config', cfg('j.json', { eval: { train: data, test: data, training: { stepz: 3 } } })], /j\.json: unknown key eval\.training\.stepz \(did you mean training\.steps\?\)/);
    // Sessions: the "session" section of the same file, with SessionSpec names; checked before any connection.
    const session = { address: '127.0.0.1:1', clientIds: ['a', 'b'] };
    expectUsageError(['coordinator', 'create-session', '--insecure', '--config', cfg('s1.json', { session: { ...session, privacy: { epsilon: 'x' } } })], /s1\.json: session\.privacy\.epsilon must be a number/);
    expectUsageError(['coordinator', 'create-session', '--insecure', '--config', cfg('s2.json', { session: { ...session, minClient: 2 } })], /s2\.json: unknown key session\.minClient \(did you mean minClients\?\)/);
    expectUsageError(['coordinator', 'create-session', '--insecure', '--config', cfg('s3.json', { session: { ...session, privacy: { epsilon: 1 } } })], /s3\.json: session\.privacy\.epsilon needs --delta too/);
    expectUsageError(['eval', '--config', cfg('k.json', { eval: { train: join(dir, 'nope.jsonl'), test: data } })], /k\.json: eval\.train names .*nope\.jsonl, which does not exist/);
    expectUsageError(['compare', '--config', cfg('h.json', { compare: { taskData: data, test: data, generate: { settings: { topK: 0 } } } })], /h\.json: compare\.generate\.settings\.topK must be an integer >= 1/);
  });

  it('flags override the file; the file fills in what flags leave out', () => {
    const bad = cfg('i.json', { generate: { data, settings: { outer: 'x' }, distance: 'l1' } });
    // --outer on the command line replaces the file's bad value, so the next check to fail is the
    // file's distance, named by its key.
    expectUsageError(['generate', '--config', bad, '--outer', '2'], /i\.json: generate\.distance must be one of cosine, l2, got "l1"/);
    expectUsageError(['generate', '--config', bad, '--outer', '2', '--distance', 'l3'], /^synthgrad: --distance must be one of cosine, l2, got "l3"/);
  });

  it('a true/false in the file is read, never silently dropped: on|off choices take it, other keys name it', () => {
    expectUsageError(['generate', '--config', cfg('t1.json', { generate: { data, settings: { outer: true } } })], /t1\.json: generate\.settings\.outer must be an integer >= 0, got "true"/);
    expectUsageError(['generate', '--config', cfg('t2.json', { generate: { data, method: { targetFilter: 'some' } } })], /t2\.json: generate\.method\.targetFilter must be one of off, surplus, strict, on, got "some"/);
    expectUsageError(['generate', '--config', cfg('t4.json', { generate: { data, method: { targetThreshold: 'real' } } })], /t4\.json: generate\.method\.targetThreshold must be one of targets, generated, got "real"/);
    // A boolean where on|off is asked is that switch: labelContext false passes the flag checks,
    // and the next check to fail is the bad distance.
    expectUsageError(['generate', '--config', cfg('t3.json', { generate: { data, method: { labelContext: false, targetFilter: true }, distance: 'l1' } })], /t3\.json: generate\.distance must be one of cosine, l2/);
  });
});

describe.runIf(built)('data files with a UTF-8 byte-order mark', () => {
  it('are read as JSONL and as CSV (data split writes their shards)', () => {
    const jsonl = join(dir, 'bom.jsonl');
    writeFileSync(jsonl, `\uFEFF${['a great film', 'great fun', 'a bad plot', 'bad acting'].map((t, i) => JSON.stringify({ text: t, label: i < 2 ? 1 : 0 })).join('\n')}\n`);
    const csv = join(dir, 'bom.csv');
    writeFileSync(csv, '\uFEFFtext,label\n"a great film",1\ngreat fun,1\na bad plot,0\nbad acting,0\n');
    for (const data of [jsonl, csv]) {
      const out = join(dir, `shards-${data.endsWith('.csv') ? 'csv' : 'jsonl'}`);
      const r = synthgrad(['data', 'split', '--data', data, '--parts', 'a,b', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual([join(out, 'a.jsonl'), join(out, 'b.jsonl')]);
      const a = readFileSync(join(out, 'a.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(a.map((x) => Number(x.label)).sort()).toEqual([0, 1]);
      expect(a.every((x) => !String(x.text).startsWith('\uFEFF'))).toBe(true);
    }
  });
});
