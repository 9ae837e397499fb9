/**
 * A local GGUF file: header and tensor directory parsed by @huggingface/gguf, tensor bytes read
 * from disk on demand and dequantised to float32. Every tensor's byte range is checked against
 * the file size up front, so a truncated download fails at open time with a clear message.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { gguf, type GGUFTensorInfo, GGMLQuantizationType } from '@huggingface/gguf';
import { SynthgradError } from '../util/errors.js';
import { byteSize, dequantize, typeName } from './dequantize.js';

export type GGUFMetadataValue = string | number | bigint | boolean | GGUFMetadataValue[];

export interface GGUFTensor {
  name: string;
  /** Row-major shape (slowest dimension first), i.e. GGUF's ne[] reversed. */
  shape: number[];
  type: GGMLQuantizationType;
  typeName: string;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export class GGUFFile {
  private constructor(
    readonly path: string,
    readonly metadata: Record<string, GGUFMetadataValue>,
    readonly tensors: Map<string, GGUFTensor>,
    readonly fileSize: number,
  ) {}

  static async open(path: string): Promise<GGUFFile> {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new SynthgradError(`model file not found: ${path} (run \`npx synthgrad model pull\` or pass --model)`, 'E_MODEL_MISSING');
    }
    let parsed: Awaited<ReturnType<typeof gguf>>;
    try {
      parsed = await gguf(path, { allowLocalFile: true });
    } catch (e) {
      throw new SynthgradError(`${path}: not a readable GGUF file (${(e as Error).message})`, 'E_MODEL_INVALID');
    }
    const dataStart = Number(parsed.tensorDataOffset);
    const tensors = new Map<string, GGUFTensor>();
    for (const info of parsed.tensorInfos as GGUFTensorInfo[]) {
      const shape = info.shape.map(Number).reverse();
      const n = shape.reduce((a, b) => a * b, 1);
      const t: GGUFTensor = {
        name: info.name,
        shape,
        type: info.dtype,
        typeName: typeName(info.dtype),
        offset: dataStart + Number(info.offset),
        // Unsupported types are reported when (and only if) the tensor is read.
        byteLength: safeByteSize(info.dtype, n, `${path}: tensor ${info.name}`),
      };
      if (t.byteLength >= 0 && t.offset + t.byteLength > size) {
        throw new SynthgradError(
          `${path}: file is truncated: tensor ${info.name} needs bytes up to ${t.offset + t.byteLength}, file has ${size}`,
          'E_MODEL_TRUNCATED',
        );
      }
      tensors.set(info.name, t);
    }
    return new GGUFFile(path, parsed.metadata as unknown as Record<string, GGUFMetadataValue>, tensors, size);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  tensor(name: string): GGUFTensor {
    const t = this.tensors.get(name);
    if (!t) throw new SynthgradError(`${this.path}: tensor ${name} is missing`, 'E_MODEL_INVALID');
    return t;
  }

  /** Raw bytes of a tensor. */
  readBytes(name: string): Uint8Array {
    const t = this.tensor(name);
    if (t.byteLength < 0) byteSize(t.type, 1, `${this.path}: tensor ${name}`); // throws the unsupported-type error
    const buf = new Uint8Array(t.byteLength);
    const fd = openSync(this.path, 'r');
    try {
      let done = 0;
      while (done < t.byteLength) {
        const n = readSync(fd, buf, done, t.byteLength - done, t.offset + done);
        if (n === 0) throw new SynthgradError(`${this.path}: unexpected end of file in tensor ${name}`, 'E_MODEL_TRUNCATED');
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** A tensor dequantised to float32, with its row-major shape. */
  readFloat32(name: string): { data: Float32Array; shape: number[] } {
    const t = this.tensor(name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    return { data: dequantize(t.type, this.readBytes(name), n, `${this.path}: tensor ${name}`), shape: t.shape };
  }

  meta<T extends GGUFMetadataValue>(key: string): T | undefined {
    return this.metadata[key] as T | undefined;
  }

  requireMeta<T extends GGUFMetadataValue>(key: string): T {
    const v = this.metadata[key];
    if (v === undefined) throw new SynthgradError(`${this.path}: metadata key ${key} is missing`, 'E_MODEL_INVALID');
    return v as T;
  }
}

function safeByteSize(type: GGMLQuantizationType, n: number, what: string): number {
  try {
    return byteSize(type, n, what);
  } catch {
    return -1;
  }
}
