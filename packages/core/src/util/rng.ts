/** Seeded pseudo-random numbers (mulberry32), so every run with the same seed is reproducible. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A generator for a named sub-stream: Rng.derive(seed, 'class', 1, 'batch', 3). */
  static derive(seed: number, ...parts: (string | number)[]): Rng {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (const ch of parts.join('/')) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    return new Rng(h);
  }

  /**
   * Moves the stream on by `n` uniform() draws without making them (the state advances by a
   * constant each draw), so a later part of a stream can be drawn elsewhere, e.g. in a worker.
   */
  skip(n: number): this {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Rng.skip needs a count >= 0, got ${n}`);
    this.state = (this.state + Math.imul(n >>> 0, 0x6d2b79f5)) >>> 0;
    return this;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = this.uniform() || 1e-12;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  normals(n: number, sd = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = sd * this.normal();
    return a;
  }

  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  shuffle<T>(xs: T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
