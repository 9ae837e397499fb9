/**
 * Checkpoint of a generation run: every finished batch, keyed by class and batch index, plus a
 * hash of the configuration so a resume with different settings is refused. Written atomically
 * (temporary file, then rename) after every batch, so a crash or Ctrl-C loses at most the batch
 * in flight.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { SynthgradError } from '../util/errors.js';
import { keyFromHex, newSecretKey } from '../privacy/secure-stream.js';

export interface BatchRecord<T> {
  classIndex: number;
  batch: number;
  examples: T[];
  timings: Record<string, number>;
}

interface CheckpointFile<T> {
  version: 1;
  configHash: string;
  batches: BatchRecord<T>[];
  /**
   * The run's secret noise key (hex), so a resumed run adds exactly the noise the first one drew:
   * two different noise draws of the same target would be two releases. Private to the data
   * owner, like the checkpoint itself (written with mode 0600).
   */
  noiseKey?: string;
}

export function configHash(config: unknown): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex');
}

export class Checkpoint<T> {
  private constructor(
    readonly path: string,
    private data: CheckpointFile<T>,
  ) {}

  /** Open for a run: a fresh checkpoint, or (resume) the existing one, which must match the config. */
  static open<T>(path: string, hash: string, resume: boolean): Checkpoint<T> {
    if (resume && existsSync(path)) {
      let data: CheckpointFile<T>;
      try {
        data = JSON.parse(readFileSync(path, 'utf8')) as CheckpointFile<T>;
      } catch (e) {
        throw new SynthgradError(`${path}: checkpoint is unreadable (${(e as Error).message}); delete it to start over`);
      }
      if (data.version !== 1 || data.configHash !== hash) {
        throw new SynthgradError(`${path}: checkpoint was made with different settings (data, model, task, seed or knobs); rerun them unchanged, or drop --resume to start over`);
      }
      return new Checkpoint(path, data);
    }
    if (!resume && existsSync(path)) {
      throw new SynthgradError(`${path} exists from an earlier run: pass --resume to continue it, or delete it to start over`);
    }
    const cp = new Checkpoint<T>(path, { version: 1, configHash: hash, batches: [], noiseKey: newSecretKey().toString('hex') });
    cp.save();
    return cp;
  }

  /** The run's secret noise key (a checkpoint from before keys were kept gets one now). */
  get noiseKey(): Buffer {
    if (!this.data.noiseKey) {
      this.data.noiseKey = newSecretKey().toString('hex');
      this.save();
    }
    return keyFromHex(this.data.noiseKey, `${this.path}: noise key`);
  }

  get(classIndex: number, batch: number): BatchRecord<T> | undefined {
    return this.data.batches.find((b) => b.classIndex === classIndex && b.batch === batch);
  }

  get batchesDone(): number {
    return this.data.batches.length;
  }

  add(record: BatchRecord<T>): void {
    this.data.batches.push(record);
    this.save();
  }

  private save(): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.data), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
