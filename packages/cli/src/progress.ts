/**
 * One progress model per long command: the run is a list of named phases, each with a number of
 * work units; the ETA is for the whole run (remaining units of every phase times that phase's
 * measured seconds per unit, or its estimate until it has one), so a new phase never resets the
 * bar. Output modes: a redrawn line on a terminal, plain lines every few seconds otherwise, JSON
 * lines (`--json`), or nothing (`--quiet`). Light: no ML imports.
 */
import { Heartbeat } from './heartbeat.js';

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

export interface PhaseSpec {
  /** Shown to the user ("load model", "ADMM", "label check"). */
  name: string;
  /** Work units in the phase (can be set later with `units()` once known). */
  units: number;
  /** Seconds per unit assumed until the phase has measured its own rate. */
  secondsPerUnit?: number;
}

/** One progress record, as `--json` prints it (one object a line on stderr). */
export interface ProgressEvent {
  type: 'progress';
  command: string;
  phase: string;
  phase_index: number;
  phases: number;
  /** Share of the whole run done, 0..1 (by time when the ETA is known). */
  fraction: number;
  elapsed_s: number;
  /** Seconds left for the whole run; null until it can be estimated. */
  eta_s: number | null;
  detail: string;
}

interface PhaseState extends PhaseSpec {
  done: number;
  /** When the phase started, and the units already done then (a resumed run starts past 0). */
  startedAt?: number;
  startUnits: number;
  endedAt?: number;
  finished: boolean;
}

/** Plain and JSON lines: at most one per this many ms, unless the phase changes. */
const LINE_EVERY_MS = 5_000;

export interface ProgressOptions {
  /** A worker thread that speaks up when the main thread is blocked for a few seconds (see heartbeat.ts). */
  heartbeat?: boolean;
}

export class Progress {
  private readonly t0 = Date.now();
  private readonly phases: PhaseState[];
  private current = -1;
  private detail = '';
  private lastLine = 0;
  private shown = 0;
  private timer?: NodeJS.Timeout;
  private drawn = false;
  private heartbeat?: Heartbeat;

  constructor(
    private readonly command: string,
    phases: PhaseSpec[],
    private readonly mode: ProgressMode = defaultMode(),
    private readonly out: NodeJS.WritableStream & { columns?: number } = process.stderr,
    opts: ProgressOptions = {},
  ) {
    this.phases = phases.map((p) => ({ ...p, done: 0, startUnits: 0, finished: false }));
    if (opts.heartbeat && this.mode !== 'quiet') this.heartbeat = new Heartbeat(this.mode, 4000, this.out.columns);
    // A redraw every second so the elapsed time moves even while a phase reports nothing.
    if (this.mode === 'tty') this.timer = setInterval(() => this.render(false), 1000).unref();
    else if (this.mode !== 'quiet') this.timer = setInterval(() => this.render(false), 1000).unref();
  }

  /** Enter a phase by name (every earlier phase counts as finished); entering the current phase again does nothing. */
  phase(name: string, detail = ''): void {
    const i = this.phases.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`progress: unknown phase "${name}"`);
    if (i === this.current) return;
    for (let j = 0; j < i; j++) this.finishPhase(j);
    this.current = i;
    this.phases[i].startedAt = Date.now();
    this.phases[i].startUnits = this.phases[i].done;
    this.detail = detail;
    this.render(true);
  }

  /** Whether the run lists a phase of this name. */
  has(name: string): boolean {
    return this.phases.some((p) => p.name === name);
  }

  /** Set a phase's unit count once it is known. */
  units(name: string, units: number): void {
    const p = this.phases.find((x) => x.name === name);
    if (p) p.units = Math.max(units, p.done);
  }

  /** Units done in the current phase (absolute, not an increment), and what is happening. */
  update(done: number, detail: string): void {
    const p = this.phases[this.current];
    if (!p) return;
    if (p.startedAt === undefined || done < p.startUnits) {
      p.startedAt = Date.now();
      p.startUnits = done;
    }
    p.done = Math.min(done, p.units);
    this.detail = detail;
    this.render(false);
  }

  /** A message that must not be overwritten by the bar. */
  note(msg: string): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'json') {
      this.out.write(`${JSON.stringify({ type: 'note', command: this.command, message: msg })}\n`);
      return;
    }
    this.clearLine();
    this.out.write(`${msg}\n`);
    // On a terminal the bar goes back under the message; plain lines keep their own pace.
    if (this.mode === 'tty') this.render(true);
  }

  /** Stop the redraw timer and end the line; call once, also on failure. */
  done(): void {
    this.heartbeat?.stop();
    this.heartbeat = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty' && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  /** The current state, as `--json` prints it. */
  event(): ProgressEvent {
    const elapsed = (Date.now() - this.t0) / 1000;
    const eta = this.eta();
    const unitsDone = this.phases.reduce((a, p) => a + (p.finished ? 1 : p.units ? p.done / p.units : 0), 0) / Math.max(1, this.phases.length);
    // By time once the ETA is known: the bar then moves at the pace the ETA predicts.
    const raw = eta === null ? unitsDone : elapsed / Math.max(1e-9, elapsed + eta);
    this.shown = Math.max(this.shown, Math.min(1, raw)); // never backwards, whatever the estimate does
    return {
      type: 'progress',
      command: this.command,
      phase: this.phases[this.current]?.name ?? 'starting',
      phase_index: Math.max(0, this.current),
      phases: this.phases.length,
      fraction: this.shown,
      elapsed_s: Math.round(elapsed * 10) / 10,
      eta_s: eta === null ? null : Math.round(eta),
      detail: this.detail,
    };
  }

  /** Seconds left: for each unfinished phase, its remaining units times its rate; null if some rate is unknown. */
  eta(): number | null {
    // A phase with neither a measured rate nor an estimate is assumed to go like the finished ones.
    const fin = this.phases.filter((p) => p.finished && p.startedAt !== undefined && p.endedAt !== undefined && p.units > p.startUnits);
    const fallback = fin.length ? fin.reduce((a, p) => a + (p.endedAt! - p.startedAt!) / 1000, 0) / fin.reduce((a, p) => a + p.units - p.startUnits, 0) : undefined;
    let left = 0;
    for (const p of this.phases) {
      if (p.finished) continue;
      const remaining = p.units - p.done;
      if (remaining <= 0) continue;
      // The prior counts as a tenth of the phase's units of observation, so the first few
      // (noisy, often fast) steps cannot swing the ETA; the measurement takes over as it grows.
      const t = p.startedAt === undefined ? 0 : (Date.now() - p.startedAt) / 1000;
      const d = Math.max(0, p.done - p.startUnits);
      const k = 0.1 * p.units;
      const rate = p.secondsPerUnit !== undefined ? (p.secondsPerUnit * k + t) / (k + d) : d > 0 ? t / d : fallback;
      if (rate === undefined) return null;
      left += remaining * rate;
    }
    return left;
  }

  private finishPhase(j: number): void {
    const p = this.phases[j];
    if (p.finished) return;
    p.done = p.units;
    p.finished = true;
    p.endedAt = Date.now();
  }

  private render(force: boolean): void {
    if (this.mode === 'quiet' || this.current < 0) return;
    const e = this.event();
    this.heartbeat?.beat({ command: this.command, phase: e.phase, detail: e.detail });
    if (this.mode === 'json') {
      if (!force && Date.now() - this.lastLine < LINE_EVERY_MS) return;
      this.lastLine = Date.now();
      this.out.write(`${JSON.stringify(e)}\n`);
      return;
    }
    const head = `${this.command} ${(e.fraction * 100).toFixed(0).padStart(3)}% ETA ${e.eta_s === null ? '?' : fmt(e.eta_s)}`;
    const phase = `[${e.phase_index + 1}/${e.phases} ${e.phase}]${e.detail ? ` ${e.detail}` : ''}`;
    const elapsed = `(${fmt(e.elapsed_s)} elapsed)`;
    if (this.mode === 'plain') {
      if (!force && Date.now() - this.lastLine < LINE_EVERY_MS) return;
      this.lastLine = Date.now();
      this.out.write(`${head} ${elapsed} ${phase}\n`);
      return;
    }
    // Terminal: the detail is never cut; the bar and the elapsed time go first when space is short.
    const cols = (this.out.columns ?? 120) - 1;
    const bar = `[${'#'.repeat(Math.round(e.fraction * 20)).padEnd(20, '.')}]`;
    const short = `${(e.fraction * 100).toFixed(0)}% ETA ${e.eta_s === null ? '?' : fmt(e.eta_s)} ${e.detail || e.phase}`;
    const candidates = [`${bar} ${head} ${elapsed} ${phase}`, `${head} ${elapsed} ${phase}`, `${head} ${phase}`, short];
    const line = candidates.find((c) => c.length <= cols) ?? candidates[candidates.length - 1];
    this.clearLine();
    this.out.write(line.length > cols ? `${line}\n` : line);
    this.drawn = line.length <= cols;
  }

  private clearLine(): void {
    if (this.mode === 'tty' && this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}

/** --quiet wins, then --json, then a terminal or plain lines. */
export function progressMode(flags: { quiet?: boolean; json?: boolean }): ProgressMode {
  if (flags.quiet) return 'quiet';
  if (flags.json) return 'json';
  return defaultMode();
}

function defaultMode(): ProgressMode {
  return process.stderr.isTTY ? 'tty' : 'plain';
}

export function fmt(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
