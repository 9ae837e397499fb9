/** `synthgrad generate` end to end on a tiny model: outputs, bad input, interrupt and resume. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';
import { withoutNativeLog } from './helpers/native-log.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-gen-'));
const model = join(dir, 'tiny.gguf');
writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 9));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const data = join(dir, 'data.jsonl');
writeFileSync(
  data,
  ['the great film', 'a great cast', 'great fun', 'a bad plot', 'bad acting', 'the end was bad']
    .map((text, i) => JSON.stringify({ text, label: i < 3 ? 1 : 0 }))
    .join('\n') + '\n',
);
// Small knobs: 2 classes x 4 batches of 2 sequences, a few steps each (the cpu preset: X-steps, every text kept).
const KNOBS = ['--model', model, '--preset', 'cpu', '--per-class', '8', '--batch-size', '2', '--outer', '3', '--inner', '3', '--candidates', '1', '--top-k', '4', '--real-per-class', '3', '--seed', '7'];

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, 'generate', ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const meta0 = (out: string) => JSON.parse(readFileSync(`${out}.meta.json`, 'utf8'));

describe.runIf(built)('synthgrad generate', () => {
  it('writes JSONL rows and a sidecar with config, model sha256, privacy and timings', () => {
    const out = join(dir, 'a.jsonl');
    // The target-classifier term is off by default; on here so its outputs are checked too.
    const ledger = join(dir, 'ledger-a.json');
    const r = run(['--data', data, '--out', out, ...KNOBS, '--clip', '1', '--epsilon', '2', '--delta', '1e-5', '--classifier-weight', '1'], { SYNTHGRAD_LEDGER: ledger });
    expect(r.code, r.stderr).toBe(0);
    // The set is a release of the data, in the owner's ledger: (2, 1e-5) for this one run.
    expect(r.stderr).toMatch(/privacy ledger \(.*ledger-a\.json\): 1 release of data [0-9a-f]{12} together are \(2\.00, 0\.00001\)-differentially private/);
    expect(JSON.parse(readFileSync(ledger, 'utf8')).entries).toHaveLength(1);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(16);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(['label', 'matching_loss', 'perplexity', 'target_label', 'target_margin', 'text']);
      expect(typeof row.text).toBe('string');
      expect([0, 1]).toContain(row.label);
      expect([0, 1]).toContain(row.target_label);
      // The margin is the row's own class over the other: positive exactly when the classifier agrees.
      expect(row.target_margin > 0).toBe(row.target_label === row.label);
    }
    expect(meta0(out).method).toMatchObject({ labelContext: true, demonstrations: 4, classifierWeight: 1, targetFilter: 'off', discriminant: 'lda' });
    expect(meta0(out).target_agreement).toHaveLength(2);
    // The classifier's threshold refitted on the 16 texts (the default): a shift summing to zero.
    expect(meta0(out).method.targetThreshold).toBe('generated');
    const shift: number[] = meta0(out).target_classifier.biasShift;
    expect(shift).toHaveLength(2);
    expect(shift.every(Number.isFinite)).toBe(true);
    expect(shift[0] + shift[1]).toBeCloseTo(0, 9);
    const meta = JSON.parse(readFileSync(`${out}.meta.json`, 'utf8'));
    expect(meta.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.privacy).toMatchObject({ mechanism: 'analytic-gaussian', epsilon: 2, delta: 1e-5, clip: 1, releases: 2, release: 'label-rows' });
    expect(meta.privacy.ledger).toMatchObject({ path: ledger, releases: 1, delta: 1e-5 });
    expect(meta.privacy.ledger.epsilon).toBeCloseTo(2, 5);
    expect(meta.config.settings).toMatchObject({ outer: 3, inner: 3, batchSize: 2 });
    expect(meta.timings.total_s).toBeGreaterThan(0);
    expect(meta.comparison_with_real).toHaveLength(2);
    expect(existsSync(`${out}.checkpoint.json`)).toBe(false);
  });

  it('an interrupted run resumes to exactly the output of an uninterrupted one', async () => {
    const full = join(dir, 'full.jsonl');
    expect(run(['--data', data, '--out', full, ...KNOBS]).code).toBe(0);

    const part = join(dir, 'part.jsonl');
    const child = spawn(process.execPath, [bin, 'generate', '--data', data, '--out', part, ...KNOBS], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Interrupt once the first batch is checkpointed.
    const cp = `${part}.checkpoint.json`;
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(cp) && JSON.parse(readFileSync(cp, 'utf8')).batches.length >= 1) {
          clearInterval(poll);
          child.kill('SIGINT');
          resolve();
        }
      }, 50);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/--resume/);
    expect(existsSync(part)).toBe(false);
    const saved = JSON.parse(readFileSync(cp, 'utf8')).batches.length;
    expect(saved).toBeGreaterThanOrEqual(1);
    expect(saved).toBeLessThan(8);

    expect(run(['--data', data, '--out', part, ...KNOBS]).stderr).toMatch(/exists from an earlier run/);
    const r = run(['--data', data, '--out', part, ...KNOBS, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(part, 'utf8')).toBe(readFileSync(full, 'utf8'));
    expect(JSON.parse(readFileSync(`${part}.meta.json`, 'utf8')).resumed_batches).toBe(saved);
  });

  it('refuses to resume with different settings', () => {
    const out = join(dir, 'changed.jsonl');
    writeFileSync(`${out}.checkpoint.json`, JSON.stringify({ version: 1, configHash: 'other', batches: [] }));
    const r = run(['--data', data, '--out', out, ...KNOBS, '--resume']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/different settings/);
  });

  const bad: [string, string, RegExp][] = [
    ['malformed JSON', '{"text": "ok", "label": 1}\n{"text": "oops", \n', /bad\.jsonl:2: malformed JSON/],
    ['a missing text', '{"text": "ok", "label": 1}\n{"label": 0}\n', /bad\.jsonl:2: missing string field "text"/],
    ['a missing label', '{"text": "ok", "label": 1}\n{"text": "no label"}\n', /bad\.jsonl:2: missing field "label"/],
    ['an unknown label', '{"text": "ok", "label": 1}\n{"text": "x", "label": 1}\n{"text": "y", "label": "neutral"}\n', /bad\.jsonl:3: unknown label "neutral"/],
    ['a class with no examples', '{"text": "ok", "label": 1}\n{"text": "fine", "label": 1}\n', /class 0 \(negative\) has no examples/],
    ['a text longer than the context', `{"text": "ok", "label": 1}\n{"text": "${'word '.repeat(80)}", "label": 0}\n`, /bad\.jsonl:2: text is \d+ tokens/],
  ];
  for (const [what, content, message] of bad) {
    it(`names the file and line for ${what}`, () => {
      const file = join(dir, 'bad.jsonl');
      writeFileSync(file, content);
      const r = run(['--data', file, '--out', join(dir, 'bad-out.jsonl'), ...KNOBS]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error/);
      rmSync(join(dir, 'bad-out.jsonl.checkpoint.json'), { force: true });
    });
  }

  it('ends with the verdict on the set: label check, loss against real, privacy, and WARNINGs that match the sidecar', () => {
    // A byte-order mark on the data file, and --out in a folder that does not exist yet.
    const bom = join(dir, 'bom.jsonl');
    writeFileSync(bom, `\uFEFF${readFileSync(data, 'utf8')}`);
    const out = join(dir, 'new', 'sub', 'v.jsonl');
    const r = run(['--data', bom, '--out', out, ...KNOBS]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote 16 synthetic examples to .*v\.jsonl \(details in .*v\.jsonl\.meta\.json\)/);
    expect(r.stderr).toMatch(/class\s+label check\s+matching loss \(syn vs real\)\s+perplexity \(syn vs real\)/);
    expect(r.stderr).toMatch(/privacy: none/);
    const meta = JSON.parse(readFileSync(`${out}.meta.json`, 'utf8'));
    let warnings = 0;
    for (const [i, lc] of meta.label_consistency.entries()) {
      const name = ['negative', 'positive'][i];
      expect(r.stderr).toMatch(new RegExp(`${name}\\s+${lc.passed}/${lc.generated} `));
      const low = lc.passed / lc.generated < 0.7;
      expect(r.stderr.includes(`WARNING: only ${lc.passed}/${lc.generated}`)).toBe(low);
      warnings += Number(low);
      const cmp = meta.comparison_with_real[i];
      const worse = cmp.synthetic_matching_loss > cmp.real_matching_loss;
      expect(r.stderr.includes(`WARNING: the "${name}" texts match the class gradient worse than real text`)).toBe(worse);
      warnings += Number(worse);
    }
    expect((withoutNativeLog(r.stderr).match(/^WARNING: /gm) ?? []).length).toBe(warnings);
    if (warnings === 0) expect(r.stderr).toMatch(/every class passes the label check/);
    // Progress names its phases in order, and never goes backwards (the cpu preset builds no
    // target classifier, so it samples no public statistics).
    const lines = r.stderr.split('\n').filter((l) => /^generate +\d+% ETA/.test(l));
    const phases = lines.map((l) => /\[(\d)\/4 ([^\]]+)\]/.exec(l)![2]);
    expect([...new Set(phases)]).toEqual(['load model', 'class targets', 'ADMM', 'label check']);
    const pcts = lines.map((l) => Number(/(\d+)% ETA/.exec(l)![1]));
    expect(pcts).toEqual([...pcts].sort((a, b) => a - b));
  });

  it('--json: progress as JSON lines on stderr, the summary as JSON on stdout; --quiet: no progress', () => {
    const small = ['--model', model, '--preset', 'cpu', '--per-class', '2', '--batch-size', '2', '--outer', '1', '--inner', '1', '--candidates', '1', '--top-k', '4', '--real-per-class', '2'];
    const j = run(['--data', data, '--out', join(dir, 'j.jsonl'), ...small, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const events = withoutNativeLog(j.stderr).trim().split('\n').map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThanOrEqual(4);
    for (const e of events.filter((x) => x.type === 'progress')) {
      expect(Object.keys(e).sort()).toEqual(['command', 'detail', 'elapsed_s', 'eta_s', 'fraction', 'phase', 'phase_index', 'phases', 'type']);
      expect(e.fraction).toBeGreaterThanOrEqual(0);
      expect(e.fraction).toBeLessThanOrEqual(1);
    }
    const summary = JSON.parse(j.stdout);
    expect(summary.counts).toEqual({ generated: 4, written: 4 });
    expect(summary.diagnostics.classes).toHaveLength(2);
    expect(summary.diagnostics.classes[0].labelCheck.generated).toBe(2);
    const q = run(['--data', data, '--out', join(dir, 'q.jsonl'), ...small, '--quiet']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stderr).not.toMatch(/ETA/);
    expect(withoutNativeLog(q.stderr).trimStart()).toMatch(/^wrote 4 synthetic examples/);
  });

  it('a task of three labels that names only them: the domain search reports its progress, and every class is generated, filtered and kept', () => {
    // The tiny vocabulary has few whole-word tokens; the label words only need to be single tokens.
    const task = join(dir, 'three.task.json');
    writeFileSync(task, JSON.stringify({ labels: [{ value: 'up', name: 'good', verbalizer: ' great' }, { value: 'down', name: 'poor', verbalizer: ' bad' }, { value: 'flat', name: 'plain', verbalizer: ' the' }], suffix: ' It was' }));
    const three = join(dir, 'three.jsonl');
    const texts = [['a great cast', 'great fun', 'the great film'], ['bad acting', 'a bad plot', 'the end was bad'], ['the film ran', 'a cast list', 'the end']];
    writeFileSync(three, texts.flatMap((ts, c) => ts.map((text) => JSON.stringify({ text, label: ['up', 'down', 'flat'][c] }))).join('\n') + '\n');
    const out = join(dir, 'three-out.jsonl');
    const knobs = ['--model', model, '--preset', 'cpu-select', '--per-class', '4', '--batch-size', '2', '--top-k', '4', '--real-per-class', '3', '--seed', '3', '--top-n', '2', '--public-texts', '8'];
    const r = run(['--data', three, '--task', task, '--out', out, ...knobs, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const events = withoutNativeLog(r.stderr).trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'progress');
    const search = events.filter((e) => e.phase === 'domain search');
    // The search is its own phase (the bar no longer sits on the targets for minutes), from its first genre to its last.
    expect(search.length).toBeGreaterThan(0);
    expect(search[0].detail).toMatch(/^first round, genre \d+\/19/);
    expect(events.findIndex((e) => e.phase === 'domain search')).toBeGreaterThan(events.findIndex((e) => e.phase === 'class targets'));
    expect(events.findIndex((e) => e.phase === 'ADMM')).toBeGreaterThan(events.findLastIndex((e) => e.phase === 'domain search'));
    // The LM texts for the target classifier are a phase of their own too, between the two.
    const stats = events.findIndex((e) => e.phase === 'public statistics');
    expect(stats).toBeGreaterThan(events.findLastIndex((e) => e.phase === 'domain search'));
    expect(events.findIndex((e) => e.phase === 'ADMM')).toBeGreaterThan(stats);
    const fractions = events.map((e) => e.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    const meta = meta0(out);
    expect(meta.counts.generated).toBe(12);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // Every class is kept, at most top-n a class. Under the default target words (the task's classes
    // have no demonstrations) the tiny model's longer contexts write near-identical texts, and dedup
    // may leave one a class.
    for (const label of ['up', 'down', 'flat']) expect(rows.filter((x) => x.label === label).length).toBeGreaterThanOrEqual(1);
    for (const label of ['up', 'down', 'flat']) expect(rows.filter((x) => x.label === label).length).toBeLessThanOrEqual(2);
    expect(meta.target_words).toHaveLength(3);
    for (const row of rows) expect(['up', 'down', 'flat']).toContain(row.target_label);
    expect(meta.label_consistency).toHaveLength(3);
    expect(meta.domain.scores).toHaveLength(16);
    expect(meta.domain.scores[0].perClass).toHaveLength(3);
  });

  it('select re-ranks a generated file: label check, dedup, top-n per class, into a new folder', () => {
    const src = join(dir, 'a.jsonl'); // written by the first test
    const out = join(dir, 'selected', 'kept.jsonl');
    const r = spawnSync(process.execPath, [bin, 'select', '--in', src, '--out', out, '--model', model, '--top-n', '2', '--balance', '--no-label-check'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stderr.trim().split('\n').pop()!);
    expect(report).toMatchObject({ input: 16, passedLabelCheck: null });
    const kept = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(kept.length).toBe(report.kept);
    expect(kept.length).toBeLessThanOrEqual(4);
    // Within a class, every kept text matches at least as well as every text left out.
    const input = readFileSync(src, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const keptTexts = new Set(kept.map((k) => k.text));
    for (const c of [0, 1]) {
      const keptLoss = kept.filter((k) => k.label === c).map((k) => k.matching_loss);
      const leftOut = input.filter((x) => x.label === c && !keptTexts.has(x.text)).map((x) => x.matching_loss);
      expect(keptLoss.length).toBeGreaterThan(0);
      if (leftOut.length) expect(Math.max(...keptLoss)).toBeLessThanOrEqual(Math.min(...leftOut));
    }
  });

  it('a preset that overgenerates (cpu-select) selects by default, as measured (target filter, no LM label check); --no-select keeps every text', () => {
    const knobs = ['--model', model, '--preset', 'cpu-select', '--per-class', '6', '--batch-size', '3', '--top-k', '4', '--real-per-class', '3', '--seed', '7', '--top-n', '2'];
    const out = join(dir, 'sel.jsonl');
    const r = run(['--data', data, '--out', out, ...knobs]);
    expect(r.code, r.stderr).toBe(0);
    const meta = meta0(out);
    expect(meta.counts).toMatchObject({ generated: 12 });
    expect(meta.selection.options).toMatchObject({ targetFilter: 'surplus', labelCheck: false, topN: 2, balance: true });
    expect(meta.selection.report).toMatchObject({ input: 12, passedLabelCheck: null });
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(meta.selection.report.kept);
    expect(rows.filter((x) => x.label === 0).length).toBe(rows.filter((x) => x.label === 1).length);
    expect(rows.length).toBeLessThanOrEqual(4);
    // The verdict describes the written texts; the generated pool's is kept beside it.
    for (const [c, lc] of meta.label_consistency.entries()) {
      const mine = rows.filter((x) => x.label === c);
      expect(lc.generated).toBe(mine.length);
      const cmp = meta.comparison_with_real[c];
      expect(cmp.synthetic).toBe(mine.length);
      expect(cmp.synthetic_matching_loss).toBeCloseTo(mine.reduce((a, x) => a + x.matching_loss, 0) / mine.length, 10);
      expect(meta.generated.comparison_with_real[c]).toMatchObject({ synthetic: 6, real_matching_loss: cmp.real_matching_loss });
      expect(r.stderr).toMatch(new RegExp(`${['negative', 'positive'][c]}\\s+${lc.passed}/${mine.length} `));
    }

    // Selection does not read the LM label check here, so only the kept texts were checked.
    expect(meta.generated.label_consistency).toBeNull();
    expect(meta.timings.label_check_s).toBeGreaterThan(0);

    // A selection that filters by the label check (the cpu preset's) checks the whole pool.
    const checked = join(dir, 'sel-checked.jsonl');
    const k = run(['--data', data, '--out', checked, ...knobs.map((x) => (x === 'cpu-select' ? 'cpu' : x)), '--outer', '1', '--inner', '1', '--select']);
    expect(k.code, k.stderr).toBe(0);
    const km = meta0(checked);
    expect(km.selection.options).toMatchObject({ labelCheck: true });
    // Texts the earlier filters dropped are not counted by the selection's report.
    expect(km.selection.report.passedLabelCheck).toBeLessThanOrEqual(km.generated.label_consistency.reduce((a: number, lc: { passed: number }) => a + lc.passed, 0));
    expect(km.generated.label_consistency.map((lc: { generated: number }) => lc.generated)).toEqual([6, 6]);

    const all = join(dir, 'nosel.jsonl');
    const n = run(['--data', data, '--out', all, ...knobs, '--no-select']);
    expect(n.code, n.stderr).toBe(0);
    expect(meta0(all).selection).toBeNull();
    expect(meta0(all).generated).toBeNull();
    expect(readFileSync(all, 'utf8').trim().split('\n')).toHaveLength(12);
    // Same seed, same candidates: selection only chose among them.
    const allTexts = new Set(readFileSync(all, 'utf8').trim().split('\n').map((l) => JSON.parse(l).text));
    for (const row of rows) expect(allTexts.has(row.text)).toBe(true);

    // A config file's "select": false is the same as --no-select.
    const cfg = join(dir, 'nosel.config.json');
    writeFileSync(cfg, JSON.stringify({ generate: { select: false } }));
    const viaConfig = join(dir, 'nosel-config.jsonl');
    const c = run(['--data', data, '--out', viaConfig, ...knobs, '--config', cfg]);
    expect(c.code, c.stderr).toBe(0);
    expect(meta0(viaConfig).selection).toBeNull();
    expect(readFileSync(viaConfig, 'utf8')).toBe(readFileSync(all, 'utf8'));

    const both = run(['--data', data, '--out', join(dir, 'both.jsonl'), ...knobs, '--select', '--no-select']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--select and --no-select contradict each other/);
  });

  it('rejects inconsistent privacy flags before loading anything', () => {
    const r = run(['--data', data, '--out', join(dir, 'p.jsonl'), ...KNOBS, '--epsilon', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--epsilon needs --delta too/);
  });
});
