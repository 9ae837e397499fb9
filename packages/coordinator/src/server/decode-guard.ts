/**
 * grpc-js answers a request it cannot decode with INTERNAL ("Error deserializing request"),
 * though the fault is the caller's, and ts-proto throws on a uint64 above 2^53 (it decodes 64-bit
 * fields as numbers). This wraps every method's deserializer so that an undecodable message
 * arrives at the handler as an Undecodable value, which the handlers answer with
 * INVALID_ARGUMENT naming the reason.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

const UNDECODABLE = Symbol('undecodable');

export interface Undecodable {
  [UNDECODABLE]: true;
  reason: string;
}

export function isUndecodable(m: unknown): m is Undecodable {
  return typeof m === 'object' && m !== null && UNDECODABLE in m;
}

function reasonOf(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  if (/MAX_SAFE_INTEGER|MIN_SAFE_INTEGER/.test(msg)) return 'a 64-bit integer field is outside +-2^53 (the largest the coordinator accepts)';
  // protobufjs messages name offsets and wire types, nothing of the payload itself.
  return msg.slice(0, 200);
}

export function guardDecoding<S extends ServiceDefinition>(def: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(def)) {
    out[name] = {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        try {
          return method.requestDeserialize(buf);
        } catch (e) {
          return { [UNDECODABLE]: true, reason: reasonOf(e) } satisfies Undecodable;
        }
      },
    };
  }
  return out as S;
}
