/** The progress model: one ETA for the whole run, a bar that never goes back, JSON and quiet modes. */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Progress, type ProgressEvent } from '../src/progress.js';

function sink() {
  const s = new PassThrough() as PassThrough & { columns?: number };
  let text = '';
  s.on('data', (d) => (text += d));
  return { stream: s, text: () => text };
}

describe('Progress', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('gives one ETA for the whole run from priors, then from measured rates; the bar never moves back between phases', () => {
    const out = sink();
    const p = new Progress('job', [
      { name: 'load', units: 1, secondsPerUnit: 10 },
      { name: 'work', units: 10, secondsPerUnit: 60 },
      { name: 'check', units: 4, secondsPerUnit: 5 },
    ], 'quiet', out.stream);
    p.phase('load');
    expect(p.eta()).toBe(10 + 600 + 20); // priors only
    vi.setSystemTime(5_000);
    p.update(1, 'loaded');
    p.phase('work');
    expect(p.eta()).toBe(600 + 20);
    const fractions: number[] = [];
    for (let i = 1; i <= 10; i++) {
      vi.setSystemTime(5_000 + i * 30_000); // work goes twice as fast as its prior
      p.update(i, `step ${i}/10`);
      fractions.push(p.event().fraction);
    }
    // Half way through "work": the measured 30 s a unit (blended with the prior) predicts the rest.
    p.phase('check');
    fractions.push(p.event().fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(p.eta()).toBe(20);
    p.done();
  });

  it('the first fast steps do not swing the ETA (the prior weighs a tenth of the units)', () => {
    const p = new Progress('job', [{ name: 'work', units: 10, secondsPerUnit: 60 }], 'quiet');
    p.phase('work');
    vi.setSystemTime(100);
    p.update(0.01, 'a tiny first step');
    expect(p.eta()!).toBeGreaterThan(300); // not 10 units x 10 s
    p.done();
  });

  it('JSON mode writes one object a line with the whole-run fields; the detail is never cut', () => {
    const out = sink();
    const p = new Progress('job', [{ name: 'a', units: 2, secondsPerUnit: 1 }, { name: 'b', units: 1, secondsPerUnit: 1 }], 'json', out.stream);
    const long = `class 1/2, batch 3/31, step 4/31 ${'x'.repeat(200)}`;
    p.phase('a', long);
    p.phase('b');
    p.note('a message');
    p.done();
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l));
    const events = lines.filter((l) => l.type === 'progress') as ProgressEvent[];
    expect(events.map((e) => e.phase)).toEqual(['a', 'b']);
    expect(events[0].detail).toBe(long);
    expect(events[1]).toMatchObject({ command: 'job', phase_index: 1, phases: 2 });
    expect(lines).toContainEqual({ type: 'note', command: 'job', message: 'a message' });
  });

  it('on a terminal the detail stays whole: the bar and elapsed time give way first', () => {
    const out = sink();
    out.stream.columns = 80;
    const p = new Progress('generate', [{ name: 'ADMM', units: 1, secondsPerUnit: 1 }], 'tty', out.stream);
    p.phase('ADMM');
    p.update(0.5, 'class 1/2, batch 3/31, step 4/31 (scoring the batch)');
    p.done();
    const last = out.text().split('\r\x1b[K').pop()!;
    expect(last).toContain('class 1/2, batch 3/31, step 4/31 (scoring the batch)');
    expect(last.trimEnd().length).toBeLessThanOrEqual(79);
  });

  it('quiet mode writes nothing', () => {
    const out = sink();
    const p = new Progress('job', [{ name: 'a', units: 1 }], 'quiet', out.stream);
    p.phase('a');
    p.update(1, 'x');
    p.note('hidden');
    p.done();
    expect(out.text()).toBe('');
  });
});
