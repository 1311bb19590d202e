import fc from "fast-check";
import { encodeOverlongVarint, encodeTag, encodeVarint, scanFields, WireType, type WireField } from "../wire/protobuf-wire.js";

/**
 * Damage to an encoded message. Positions and field indexes are taken modulo
 * what the message has when the mutation is applied, so a mutation is valid
 * for any message and shrinks on its own.
 */
export type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "truncate"; readonly keep: number }
  | { readonly op: "wireType"; readonly field: number; readonly to: number }
  | { readonly op: "duplicate"; readonly field: number }
  | { readonly op: "unknown"; readonly fieldNumber: number; readonly wireType: number; readonly payload: Uint8Array }
  | { readonly op: "overlongTag"; readonly field: number; readonly extra: number }
  | { readonly op: "overlongLength"; readonly field: number; readonly extra: number }
  | { readonly op: "lengthPastEnd"; readonly field: number; readonly by: number }
  | { readonly op: "hugeLength"; readonly field: number; readonly length: bigint }
  | { readonly op: "badUtf8"; readonly field: number; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "nested"; readonly field: number; readonly inner: Mutation };

const leaf: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant("truncate" as const), keep: fc.nat() }),
  fc.record({ op: fc.constant("wireType" as const), field: fc.nat(), to: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant("duplicate" as const), field: fc.nat() }),
  fc.record({
    op: fc.constant("unknown" as const),
    fieldNumber: fc.oneof(fc.constantFrom(0, 15, 16, 99, 1000, 18_999, 19_000, 19_999, 536_870_911, 536_870_912), fc.integer({ min: 1, max: 536_870_911 })),
    wireType: fc.nat({ max: 7 }),
    payload: fc.uint8Array({ maxLength: 24 }),
  }),
  fc.record({ op: fc.constant("overlongTag" as const), field: fc.nat(), extra: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant("overlongLength" as const), field: fc.nat(), extra: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant("lengthPastEnd" as const), field: fc.nat(), by: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({
    op: fc.constant("hugeLength" as const),
    field: fc.nat(),
    length: fc.constantFrom(2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n),
  }),
  fc.record({
    op: fc.constant("badUtf8" as const),
    field: fc.nat(),
    at: fc.nat(),
    bytes: fc.constantFrom(Uint8Array.of(0xff), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0xe2, 0x82), Uint8Array.of(0x00)),
  }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
);

/** One to three mutations, sometimes applied inside a nested message. */
export function mutationsArbitrary(): fc.Arbitrary<Mutation[]> {
  const one = fc.oneof(
    { arbitrary: leaf, weight: 5 },
    { arbitrary: fc.record({ op: fc.constant("nested" as const), field: fc.nat(), inner: leaf }), weight: 1 },
  );
  return fc.array(one, { minLength: 1, maxLength: 3 });
}

/** Applies `mutations` in order. */
export function applyMutations(bytes: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let out: Buffer = Buffer.from(bytes);
  for (const mutation of mutations) out = applyMutation(out, mutation);
  return out;
}

function pickField(bytes: Buffer, index: number, filter: (field: WireField) => boolean = () => true): WireField | undefined {
  const fields = scanFields(bytes).filter(filter);
  return fields.length === 0 ? undefined : fields[index % fields.length];
}

function splice(bytes: Buffer, start: number, end: number, insert: Uint8Array): Buffer {
  return Buffer.concat([bytes.subarray(0, start), insert, bytes.subarray(end)]);
}

function applyMutation(bytes: Buffer, m: Mutation): Buffer {
  switch (m.op) {
    case "flip": {
      if (bytes.length === 0) return Buffer.from([1 << m.bit]);
      const out = Buffer.from(bytes);
      const at = m.at % out.length;
      out[at] = out[at]! ^ (1 << m.bit);
      return out;
    }
    case "truncate":
      return bytes.length === 0 ? bytes : bytes.subarray(0, m.keep % bytes.length);
    case "wireType": {
      const field = pickField(bytes, m.field);
      if (field === undefined) return bytes;
      const to = m.to === field.wireType ? (m.to + 1) % 8 : m.to;
      return splice(bytes, field.start, field.valueStart, encodeTag(field.fieldNumber, to));
    }
    case "duplicate": {
      const field = pickField(bytes, m.field);
      return field === undefined ? bytes : Buffer.concat([bytes, bytes.subarray(field.start, field.end)]);
    }
    case "unknown": {
      let payload: Buffer;
      if (m.wireType === WireType.VARINT) payload = encodeVarint(BigInt(m.payload.length * 977));
      else if (m.wireType === WireType.I64) payload = m.payload.length >= 8 ? Buffer.from(m.payload.subarray(0, 8)) : Buffer.alloc(8, 7);
      else if (m.wireType === WireType.I32) payload = Buffer.alloc(4, m.payload[0] ?? 0);
      else if (m.wireType === WireType.LEN) payload = Buffer.concat([encodeVarint(m.payload.length), m.payload]);
      else payload = Buffer.from(m.payload); // groups and the two undefined wire types: whatever follows
      return Buffer.concat([bytes, encodeTag(m.fieldNumber, m.wireType), payload]);
    }
    case "overlongTag": {
      const field = pickField(bytes, m.field);
      if (field === undefined) return bytes;
      return splice(bytes, field.start, field.valueStart, encodeOverlongVarint((BigInt(field.fieldNumber) << 3n) | BigInt(field.wireType), m.extra));
    }
    case "overlongLength": {
      const field = pickField(bytes, m.field, (f) => f.wireType === WireType.LEN);
      if (field === undefined) return bytes;
      return splice(bytes, field.valueStart, field.payloadStart, encodeOverlongVarint(field.end - field.payloadStart, m.extra));
    }
    case "lengthPastEnd": {
      const field = pickField(bytes, m.field, (f) => f.wireType === WireType.LEN);
      if (field === undefined) return bytes;
      const length = bytes.length - field.payloadStart + m.by;
      return splice(bytes, field.valueStart, field.payloadStart, encodeVarint(length));
    }
    case "hugeLength": {
      const field = pickField(bytes, m.field, (f) => f.wireType === WireType.LEN);
      if (field === undefined) return Buffer.concat([bytes, encodeTag(1, WireType.LEN), encodeVarint(m.length)]);
      return splice(bytes, field.valueStart, field.payloadStart, encodeVarint(m.length));
    }
    case "badUtf8": {
      const field = pickField(bytes, m.field, (f) => f.wireType === WireType.LEN && f.end > f.payloadStart);
      if (field === undefined) return bytes;
      const at = field.payloadStart + (m.at % (field.end - field.payloadStart));
      const out = Buffer.from(bytes);
      out.set(m.bytes.subarray(0, field.end - at), at);
      return out;
    }
    case "insert": {
      const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
      return splice(bytes, at, at, m.bytes);
    }
    case "nested": {
      const field = pickField(bytes, m.field, (f) => f.wireType === WireType.LEN);
      if (field === undefined) return applyMutation(bytes, m.inner);
      const inner = applyMutation(bytes.subarray(field.payloadStart, field.end), m.inner);
      return splice(bytes, field.valueStart, field.end, Buffer.concat([encodeVarint(inner.length), inner]));
    }
  }
}
