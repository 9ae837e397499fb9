/**
 * `synthgrad task init | check` as a child process, on a tiny model's tokenizer: the template
 * loads, check says what generate will make of a task and its data, and every mistake a user can
 * make in a task file is a one-line error naming it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tinyConfig, tinyWeights, writeTinyLlamaGGUF } from './helpers/tiny-llama.js';
import { withoutNativeLog } from './helpers/native-log.js';

const bin = fileURLToPath(new URL('../packages/cli/bin/synthgrad.js', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'synthgrad-task-'));
const model = join(dir, 'tiny.gguf');
writeTinyLlamaGGUF(model, tinyConfig(), tinyWeights(tinyConfig(), 2));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function task(args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'task', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: withoutNativeLog(r.stderr).trim() };
}

describe.runIf(built)('synthgrad task', () => {
  it('init writes a task file that loads: labels, verbalisers with their space, the domain, an empty demonstrations list', () => {
    const out = join(dir, 'new', 'sent.task.json'); // its folder is created
    const r = task(['init', '--labels', 'negative=0,positive=1', '--verbalizers', 'bad,great', '--suffix', ' It was', '--domain', 'movie review', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({
      name: 'custom',
      textField: 'text',
      labelField: 'label',
      labels: [
        { value: 0, name: 'negative', verbalizer: ' bad' },
        { value: 1, name: 'positive', verbalizer: ' great' },
      ],
      suffix: ' It was',
      domain: 'movie review',
      demonstrations: [],
    });
    expect(r.stderr).toMatch(/two short public texts a class/);
    // An existing file is kept unless --force.
    const again = task(['init', '--labels', 'a,b', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out names .* which exists; --force replaces it/);
    expect(task(['init', '--labels', 'a,b', '--out', out, '--force']).code).toBe(0);
    // Without --out it prints the file; labels only: no domain key, the generic suffix.
    const printed = task(['init', '--labels', 'sports,food']);
    expect(JSON.parse(printed.stdout)).toMatchObject({ suffix: ' Label:', labels: [{ value: 'sports', verbalizer: ' sports' }, { value: 'food', verbalizer: ' food' }] });
    expect(JSON.parse(printed.stdout).domain).toBeUndefined();
    expect(JSON.parse(task(['init', '--labels', 'a,b', '--symbols', '@#']).stdout).symbols).toBe('@#');
    for (const [args, msg] of [
      [['init'], /--labels is required/],
      [['init', '--labels', 'only'], /at least two labels, got 1/],
      [['init', '--labels', 'a,b', '--verbalizers', 'x'], /1 verbalisers for 2 labels/],
      [['init', '--labels', 'a,=1'], /needs a name/],
      [['init', '--labels', 'a,b', '--symbols', '@x'], /"symbols" may not hold letters/],
      [['nope'], /unknown task command "nope"/],
    ] as const) {
      const e = task([...args]);
      expect(e.code, e.stderr).toBe(2);
      expect(e.stderr).toMatch(msg);
    }
  });

  it('check shows how the LM reads the task, each class context, the search and the data; --json has the same', () => {
    const file = join(dir, 'three.task.json');
    writeFileSync(
      file,
      JSON.stringify({
        labels: [
          { value: 'up', name: 'good', verbalizer: ' great' },
          { value: 'down', name: 'poor', verbalizer: 'bad' },
          { value: 'flat', name: 'plain', verbalizer: ' the' },
        ],
        suffix: ' It was',
        demonstrations: [{ text: 'a great cast', label: 'up' }],
      }),
    );
    const data = join(dir, 'three.jsonl');
    writeFileSync(data, ['great fun', 'bad acting', 'the end', 'the great film'].map((text, i) => JSON.stringify({ text, label: ['up', 'down', 'flat', 'up'][i] })).join('\n') + '\n');
    const r = task(['check', file, '--data', data, '--model', model]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 labels; the LM reads an example as "<text> It was great"/);
    expect(r.stdout).toMatch(/good\s+up\s+" great"\s+" great" \(\d+\)\s+1 \+ 0 \+ 1/);
    expect(r.stdout).toMatch(/poor\s+down\s+"bad"\s+"b" \(\d+\)\s+0 \+ 0 \+ 2/);
    expect(r.stdout).toMatch(/domain: none named; generate searches for one first/);
    expect(r.stdout).toContain('context of "good" (until the search picks a domain):\n  Here is a good example. The a great cast\n  Here is a good example. The');
    expect(r.stdout).toMatch(/note: the verbaliser "bad" of "poor" is 2 tokens; the LM predicts only the first, "b"/);
    expect(r.stdout).toMatch(/note: the verbaliser "bad" of "poor" has no leading space/);
    expect(r.stdout).toMatch(/note: "poor", "plain" have no public demonstrations/);
    expect(r.stdout).toMatch(/note: "good" \(2\), "poor" \(1\), "plain" \(1\) have fewer examples than the 25/);
    const j = task(['check', file, '--data', data, '--model', model, '--json', '--real-per-class', '2']);
    expect(j.code, j.stderr).toBe(0);
    const d = JSON.parse(j.stdout);
    expect(d.task.domainSearch).toBe(true);
    expect(d.task.labels.map((l: { verbalizerTokens: number }) => l.verbalizerTokens)).toEqual([1, 2, 1]);
    expect(d.data.classes.map((c: { examples: number }) => c.examples)).toEqual([2, 1, 1]);
    expect(d.data.warnings).toEqual([expect.stringMatching(/"poor" \(1\), "plain" \(1\) have fewer examples than the 2 /)]);
    // Demonstrations may name their label by name, as a person writes them; stored by value.
    const byName = join(dir, 'by-name.task.json');
    writeFileSync(byName, JSON.stringify({ labels: [{ value: 0, name: 'negative', verbalizer: ' bad' }, { value: 1, name: 'positive', verbalizer: ' great' }], suffix: ' It was', domain: 'tweet', demonstrations: [{ text: 'so slow today', label: 'negative' }, { text: 'love it', label: 1 }] }));
    const b = JSON.parse(task(['check', byName, '--model', model, '--json']).stdout);
    expect(b.task.labels.map((l: { publicDemonstrations: number }) => l.publicDemonstrations)).toEqual([1, 1]);
    // With mined demonstrations a class short of its own gets them first, and its own synthetic texts fill only what is left.
    const slots = (args: string[]) => JSON.parse(task(['check', byName, '--model', model, '--json', ...args]).stdout).task.labels.map((l: { publicDemonstrations: number; minedDemonstrations: number; filledDemonstrations: number }) => [l.publicDemonstrations, l.minedDemonstrations, l.filledDemonstrations]);
    expect(slots([])).toEqual([[1, 0, 1], [1, 0, 1]]);
    expect(slots(['--mined-demonstrations', '8'])).toEqual([[1, 3, 0], [1, 3, 0]]);
    expect(slots(['--mined-demonstrations', '1'])).toEqual([[1, 1, 0], [1, 1, 0]]);
    // A task that names its domain never searches, and its contexts are built from it.
    const named = join(dir, 'named.task.json');
    writeFileSync(named, JSON.stringify({ labels: [{ value: 0, verbalizer: ' bad' }, { value: 1, verbalizer: ' great' }], suffix: ' It was', domain: 'support ticket' }));
    const n = task(['check', named, '--model', model, '--json']);
    expect(JSON.parse(n.stdout).task).toMatchObject({ domainSearch: false, domain: 'support ticket', labels: [{ context: 'A 0 support ticket:' }, { context: 'A 1 support ticket:' }] });
    expect(r.stdout).toMatch(/vocabulary: \d+ tokens, words only \(no "symbols"\)/);
    // Characters the real texts use and the synthetic ones cannot write get a note with the line that fixes it ...
    const tweets = join(dir, 'tweets.jsonl');
    writeFileSync(tweets, ['@amy so slow today', '@bob love it #win', 'love it 10/10', 'so slow'].map((text, i) => JSON.stringify({ text, label: i % 2 })).join('\n') + '\n');
    const t = task(['check', named, '--data', tweets, '--model', model]);
    expect(t.stdout).toMatch(/note: the real texts use characters the synthetic ones cannot write: "#" \(50% of "1"\), "\/" \(50% of "0"\), digits \(50% of "0"\), "@" \(50% of "0"\); "symbols": "#\/0123456789@" in the task file lets them/);
    // ... and with them the vocabulary grows by the tokens made of them, and the note is gone.
    const withSymbols = join(dir, 'symbols.task.json');
    writeFileSync(withSymbols, JSON.stringify({ labels: [{ value: 0, verbalizer: ' bad' }, { value: 1, verbalizer: ' great' }], suffix: ' It was', domain: 'tweet', symbols: '@0123456789/#' }));
    const s = task(['check', withSymbols, '--data', tweets, '--model', model, '--json']);
    const sd = JSON.parse(s.stdout);
    expect(sd.task.vocabulary).toMatchObject({ symbols: '@0123456789/#', symbolTokens: expect.any(Number) });
    expect(sd.task.vocabulary.symbolTokens).toBeGreaterThan(10);
    expect(sd.data.symbolsMissing).toEqual([]);
    // A symbol no token is made of (here one whose UTF-8 spans bytes the tiny vocabulary never merged) says so.
    const euro = join(dir, 'euro.task.json');
    writeFileSync(euro, JSON.stringify({ labels: [{ value: 0, verbalizer: ' bad' }, { value: 1, verbalizer: ' great' }], suffix: ' It was', domain: 'invoice', symbols: '€' }));
    expect(task(['check', euro, '--model', model]).stdout).toMatch(/note: "symbols" "€" adds no token the texts can use/);
  });

  it('a task file or data generate would refuse is a one-line error naming what is wrong', () => {
    const write = (name: string, body: unknown) => {
      const p = join(dir, name);
      writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
      return p;
    };
    const labels = [
      { value: 0, name: 'negative', verbalizer: ' bad' },
      { value: 1, name: 'positive', verbalizer: ' great' },
    ];
    const data = write('d.jsonl', '{"text": "fine", "label": 0}\n{"text": "ok", "label": 3}\n');
    for (const [file, msg, extra] of [
      [write('typo.task.json', { labels, suffix: ' It was', demonstration: [] }), /unknown key "demonstration" \(did you mean "demonstrations"\?\)/, []],
      [write('label-typo.task.json', { labels: [{ ...labels[0], verbaliser: ' x' }, labels[1]], suffix: ' It was' }), /labels\[0\] has an unknown key "verbaliser"/, []],
      [write('demos.task.json', { labels, suffix: ' It was', demonstrations: { text: 'x', label: 0 } }), /"demonstrations" must be a list/, []],
      [write('empty-demo.task.json', { labels, suffix: ' It was', demonstrations: [{ text: ' ', label: 0 }] }), /demonstrations\[0\] needs a non-empty "text"/, []],
      [write('demo-label.task.json', { labels, suffix: ' It was', demonstrations: [{ text: 'fine', label: 0 }, { text: 'meh', label: 'neutral' }] }), /demonstrations\[1\] has label "neutral", which is no label's value or name; use one of 0 \("negative"\), 1 \("positive"\)/, []],
      [write('same.task.json', { labels: [labels[0], { ...labels[1], verbalizer: ' badly' }], suffix: ' It was' }), /two verbalisers start with the same token/, []],
      [write('array.task.json', []), /a task must be a JSON object/, []],
      [write('ok.task.json', { labels, suffix: ' It was', _comment: 'comments are fine' }), /d\.jsonl:2: unknown label 3/, ['--data', data]],
    ] as const) {
      const r = task(['check', file, '--model', model, ...extra]);
      expect(r.code, `${file}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.split('\n')).toHaveLength(1);
    }
  });
});
