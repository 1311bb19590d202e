// Test helper: random protobuf-es messages of any (proto3) type, edge values
// favoured, from an injected source of randomness so that runs are reproducible.
import { ScalarType, create } from "@bufbuild/protobuf";
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";

/** Returns a float in [0, 1), like Math.random. */
export type Random = () => number;

/** A seeded PRNG (mulberry32). */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomMessageOptions {
  /** Whether doubles and floats may be NaN (protobuf-es' equals() treats NaN as unequal to itself). */
  readonly nan: boolean;
  /** Nesting depth after which message fields are left unset. @default 4 */
  readonly maxDepth?: number;
}

const int = (rnd: Random, n: number): number => Math.floor(rnd() * n);
const pick = <T>(rnd: Random, items: readonly T[]): T => items[int(rnd, items.length)] as T;

function randomUint32(rnd: Random): number {
  return int(rnd, 0x100000000);
}

function random64(rnd: Random, signed: boolean): bigint {
  const edges = signed
    ? [0n, 1n, -1n, 127n, 128n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n, -(2n ** 53n), 1700000000n, -(2n ** 31n)]
    : [0n, 1n, 127n, 128n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n, 2n ** 53n - 1n, 1700000000n, 2n ** 32n];
  switch (int(rnd, 3)) {
    case 0:
      return pick(rnd, edges);
    case 1:
      return BigInt(int(rnd, 1000)) * (signed && rnd() < 0.5 ? -1n : 1n);
    default: {
      const bits = (BigInt(randomUint32(rnd)) << 32n) | BigInt(randomUint32(rnd));
      return signed ? BigInt.asIntN(64, bits) : bits;
    }
  }
}

const STRING_PIECES = ["a", "Z", "0", " ", "é", "ß", "€", "中", "😀", "\u0000", "\uD800", "\uDC00", "\u07FF", "\uFFFF", "x".repeat(70)];

function randomString(rnd: Random): string {
  const n = rnd() < 0.2 ? 0 : int(rnd, rnd() < 0.1 ? 120 : 12);
  let s = "";
  for (let i = 0; i < n; i++) s += rnd() < 0.7 ? String.fromCharCode(0x20 + int(rnd, 95)) : pick(rnd, STRING_PIECES);
  return s;
}

function randomBytes(rnd: Random): Uint8Array {
  const n = rnd() < 0.2 ? 0 : int(rnd, rnd() < 0.1 ? 200 : 20);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(rnd, 256);
  return b;
}

function randomDouble(rnd: Random, opts: RandomMessageOptions, float: boolean): number {
  const edges = float
    ? [0, -0, 1, -1.5, Math.fround(3.4028234663852886e38), Math.fround(1e-45), Infinity, -Infinity]
    : [0, -0, 1, -1.5, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, 0.1];
  if (opts.nan && rnd() < 0.05) return NaN;
  const v = rnd() < 0.4 ? pick(rnd, edges) : (rnd() - 0.5) * 10 ** int(rnd, 40);
  return float ? Math.fround(v) : v;
}

/** A random value of a scalar type, as protobuf-es represents it. */
export function randomScalar(rnd: Random, t: ScalarType, longAsString: boolean, opts: RandomMessageOptions): unknown {
  const long = (v: bigint): bigint | string => (longAsString ? String(v) : v);
  switch (t) {
    case ScalarType.DOUBLE:
      return randomDouble(rnd, opts, false);
    case ScalarType.FLOAT:
      return randomDouble(rnd, opts, true);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return rnd() < 0.4 ? pick(rnd, [0, 1, -1, 2147483647, -2147483648, 127, 128, -64]) : randomUint32(rnd) | 0;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return rnd() < 0.4 ? pick(rnd, [0, 1, 4294967295, 127, 128, 16384]) : randomUint32(rnd);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(random64(rnd, true));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(random64(rnd, false));
    case ScalarType.BOOL:
      return rnd() < 0.5;
    case ScalarType.STRING:
      return randomString(rnd);
    case ScalarType.BYTES:
      return randomBytes(rnd);
  }
}

function randomEnum(rnd: Random, field: DescField): number {
  const values = field.enum?.values.map((v) => v.number) ?? [0];
  return rnd() < 0.8 ? pick(rnd, values) : pick(rnd, [99, -1, 2147483647]);
}

function randomMapKey(rnd: Random, t: ScalarType, opts: RandomMessageOptions): string {
  if (t === ScalarType.BOOL) return rnd() < 0.5 ? "true" : "false";
  return String(randomScalar(rnd, t, false, opts));
}

/** The value of a singular field or of one list item / map value. */
function randomValue(rnd: Random, field: DescField, depth: number, opts: RandomMessageOptions): unknown {
  if (field.message !== undefined) {
    if (field.fieldKind === "message" && field.oneof === undefined && isWrapperDesc(field.message)) {
      const inner = field.message.fields[0] as DescField & { scalar: ScalarType };
      return randomScalar(rnd, inner.scalar, false, opts);
    }
    return randomMessage(rnd, field.message, opts, depth + 1);
  }
  if (field.enum !== undefined) return randomEnum(rnd, field);
  const scalar = (field as { scalar: ScalarType }).scalar;
  const longAsString = field.fieldKind !== "map" && (field as { longAsString: boolean }).longAsString;
  return randomScalar(rnd, scalar, longAsString, opts);
}

/** A random message of the given type; message fields stop at `opts.maxDepth`. */
export function randomMessage(rnd: Random, desc: DescMessage, opts: RandomMessageOptions, depth = 0): Message {
  const msg = create(desc) as unknown as Record<string, unknown>;
  const deep = depth >= (opts.maxDepth ?? 4);
  for (const member of desc.members) {
    if (rnd() < 0.3) continue;
    if (member.kind === "oneof") {
      const field = pick(rnd, member.fields);
      if (deep && field.message !== undefined) continue;
      msg[member.localName] = { case: field.localName, value: randomValue(rnd, field, depth, opts) };
      continue;
    }
    const field = member;
    if (deep && field.message !== undefined) continue;
    switch (field.fieldKind) {
      case "list": {
        const n = int(rnd, 6);
        msg[field.localName] = Array.from({ length: n }, () => randomValue(rnd, field, depth, opts));
        break;
      }
      case "map": {
        const obj: Record<string, unknown> = {};
        for (let n = int(rnd, 5); n > 0; n--) obj[randomMapKey(rnd, field.mapKey, opts)] = randomValue(rnd, field, depth, opts);
        msg[field.localName] = obj;
        break;
      }
      default:
        msg[field.localName] = randomValue(rnd, field, depth, opts);
    }
  }
  return msg as unknown as Message;
}
