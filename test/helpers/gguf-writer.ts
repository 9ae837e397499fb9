/**
 * A minimal GGUF v3 writer for tests: lets tests build real model files on disk (tiny random
 * llamas, truncated files, unsupported types, wrong shapes) and load them through the real loader.
 */
import { writeFileSync } from 'node:fs';

export type MetaValue = string | number | boolean | string[] | number[];
export interface TensorSpec {
  name: string;
  /** Row-major shape (slowest first), as the loader reports it. */
  shape: number[];
  /** GGML type id (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 8 Q8_0, ...). */
  type: number;
  data: Uint8Array;
}

const ALIGN = 32;

class Buf {
  parts: Uint8Array[] = [];
  length = 0;
  push(u: Uint8Array) {
    this.parts.push(u);
    this.length += u.length;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  i32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.push(b);
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  f32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  str(s: string) {
    const e = new TextEncoder().encode(s);
    this.u64(e.length);
    this.push(e);
  }
  pad() {
    const rem = this.length % ALIGN;
    if (rem) this.push(new Uint8Array(ALIGN - rem));
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

// GGUF value types
const UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9;

function scalarType(v: number | string | boolean, key: string): number {
  if (typeof v === 'string') return STRING;
  if (typeof v === 'boolean') return BOOL;
  if (Number.isInteger(v) && !key.includes('epsilon') && !key.includes('freq_base')) return v < 0 ? INT32 : UINT32;
  return FLOAT32;
}

function writeScalar(b: Buf, t: number, v: number | string | boolean) {
  if (t === STRING) b.str(v as string);
  else if (t === BOOL) b.push(new Uint8Array([v ? 1 : 0]));
  else if (t === UINT32) b.u32(v as number);
  else if (t === INT32) b.i32(v as number);
  else b.f32(v as number);
}

export function ggufBytes(metadata: Record<string, MetaValue>, tensors: TensorSpec[]): Uint8Array {
  const b = new Buf();
  b.push(new TextEncoder().encode('GGUF'));
  b.u32(3);
  b.u64(tensors.length);
  b.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    b.str(key);
    if (Array.isArray(value)) {
      b.u32(ARRAY);
      const t = value.length && typeof value[0] === 'string' ? STRING : INT32;
      b.u32(t);
      b.u64(value.length);
      for (const v of value) writeScalar(b, t, v);
    } else {
      const t = scalarType(value, key);
      b.u32(t);
      writeScalar(b, t, value);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    b.str(t.name);
    b.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) b.u64(d);
    b.u32(t.type);
    b.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(t.data.length / ALIGN) * ALIGN;
  }
  b.pad();
  for (const t of tensors) {
    b.push(t.data);
    b.pad();
  }
  return b.bytes();
}

export function writeGGUF(path: string, metadata: Record<string, MetaValue>, tensors: TensorSpec[]): void {
  writeFileSync(path, ggufBytes(metadata, tensors));
}

export function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}
