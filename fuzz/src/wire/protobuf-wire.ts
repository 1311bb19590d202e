/**
 * Just enough of the protobuf wire format to take a message apart and put
 * broken pieces back together: varints, tags and a lenient scan of the
 * top-level fields. Nothing here validates; it is the mutator's scalpel.
 */

/** The six wire types (3 and 4 are the deprecated groups). */
export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

/** One top-level field as it sits in the bytes. */
export interface WireField {
  readonly fieldNumber: number;
  readonly wireType: number;
  /** Offset of the tag's first byte. */
  readonly start: number;
  /** Offset just past the tag. */
  readonly valueStart: number;
  /** For LEN fields: offset just past the length prefix. */
  readonly payloadStart: number;
  /** Offset just past the field. */
  readonly end: number;
}

/** Encodes an unsigned varint (up to 2^64 - 1, given as a bigint or a safe integer). */
export function encodeVarint(value: number | bigint): Buffer {
  let rest = BigInt(value);
  if (rest < 0n) rest = BigInt.asUintN(64, rest);
  const out: number[] = [];
  do {
    const byte = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest === 0n ? byte : byte | 0x80);
  } while (rest !== 0n);
  return Buffer.from(out);
}

/**
 * The same value as {@link encodeVarint} with `extra` redundant continuation
 * bytes: legal up to 10 bytes in total, malformed past that.
 */
export function encodeOverlongVarint(value: number | bigint, extra: number): Buffer {
  const plain = [...encodeVarint(value)];
  const last = plain.length - 1;
  plain[last] = plain[last]! | 0x80;
  for (let i = 0; i < extra - 1; i++) plain.push(0x80);
  plain.push(0x00);
  return Buffer.from(plain);
}

/** Reads a varint at `offset`; undefined when the bytes end first or it runs past 10 bytes. */
export function readVarint(bytes: Uint8Array, offset: number): { readonly value: bigint; readonly next: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) return undefined;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value, next: offset + i + 1 };
  }
  return undefined;
}

/** A tag: field number and wire type. */
export function encodeTag(fieldNumber: number, wireType: number): Buffer {
  return encodeVarint((BigInt(fieldNumber) << 3n) | BigInt(wireType & 7));
}

/**
 * The top-level fields of `bytes`, in order, as far as they can be parsed;
 * the scan stops silently at the first thing that is not a well-formed field.
 */
export function scanFields(bytes: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const tag = readVarint(bytes, offset);
    if (tag === undefined) break;
    const fieldNumber = Number(tag.value >> 3n);
    const wireType = Number(tag.value & 7n);
    let payloadStart = tag.next;
    let end: number;
    switch (wireType) {
      case WireType.VARINT: {
        const v = readVarint(bytes, tag.next);
        if (v === undefined) return fields;
        end = v.next;
        break;
      }
      case WireType.I64:
        end = tag.next + 8;
        break;
      case WireType.I32:
        end = tag.next + 4;
        break;
      case WireType.LEN: {
        const length = readVarint(bytes, tag.next);
        if (length === undefined) return fields;
        payloadStart = length.next;
        end = length.next + Number(length.value);
        break;
      }
      default:
        return fields;
    }
    if (end > bytes.length || fieldNumber === 0) break;
    fields.push({ fieldNumber, wireType, start: offset, valueStart: tag.next, payloadStart, end });
    offset = end;
  }
  return fields;
}
