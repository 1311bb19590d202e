// The protobuf wire primitives that compiled codecs call. Writers take the output
// buffer and a position and return the new position (the buffer is allocated at
// the exact size after a size pass, so they never check bounds); readers work on
// a ReadState and leave bounds to the generated code, which checks every length
// against the end of the enclosing message. Validation and error texts follow
// @bufbuild/protobuf's BinaryWriter/BinaryReader.
import { protoInt64 } from "@bufbuild/protobuf";

/** Decoder state: the input and the read position. One per codec, reused. */
export interface ReadState {
  buf: Uint8Array;
  pos: number;
  /** Lazily created view of `buf`, for floats and doubles. */
  view: DataView | undefined;
  /** The last 64-bit varint read by readVarint64: low and high 32 bits. */
  lo: number;
  hi: number;
}

/** Encoder state: sizes computed by the size pass, consumed in the same order by the write pass. */
export interface WriteState {
  buf: Uint8Array;
  pos: number;
  /** Byte lengths of nested messages, strings, packed lists and map entries, in visit order. */
  readonly sizes: number[];
  /** Next free slot of `sizes` (size pass). */
  n: number;
  /** Next slot of `sizes` to consume (write pass). */
  si: number;
  /** Whether an encode is running on this state (re-entrant calls get a fresh state). */
  busy: boolean;
}

const EMPTY = new Uint8Array(0);

export function createReadState(): ReadState {
  return { buf: EMPTY, pos: 0, view: undefined, lo: 0, hi: 0 };
}

export function createWriteState(): WriteState {
  return { buf: EMPTY, pos: 0, sizes: [], n: 0, si: 0, busy: false };
}

const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;
const FLOAT32_MAX = 3.4028234663852886e38;
const TWO_32 = 4294967296;
const SAFE_51 = 2 ** 51;

// ---------------------------------------------------------------------------
// Value checks (as BinaryWriter's assertInt32, assertUInt32, assertFloat32).

function toInt32(value: unknown, field: string): number {
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n > INT32_MAX || n < INT32_MIN) {
    throw new Error(`invalid int32 in ${field}: ${typeof n === "number" ? n : typeof value}`);
  }
  return n;
}

function toUint32(value: unknown, field: string): number {
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n > UINT32_MAX || n < 0) {
    throw new Error(`invalid uint32 in ${field}: ${typeof n === "number" ? n : typeof value}`);
  }
  return n;
}

function toFloat32(value: unknown, field: string): number {
  let n = value;
  if (typeof value === "string") {
    n = Number(value);
    if (Number.isNaN(n) && value !== "NaN") throw new Error(`invalid float32 in ${field}: ${value}`);
  }
  if (typeof n !== "number") throw new Error(`invalid float32 in ${field}: ${typeof value}`);
  if (Number.isFinite(n) && (n > FLOAT32_MAX || n < -FLOAT32_MAX)) {
    throw new Error(`invalid float32 in ${field}: ${n}`);
  }
  return n;
}

/** A valid int32, uint32 or sint32 field value as a number; anything else throws. */
export function int32Value(value: unknown, field: string): number {
  return ((value as number) | 0) === value ? (value as number) : toInt32(value, field);
}

export function uint32Value(value: unknown, field: string): number {
  return (value as number) >>> 0 === value ? (value as number) : toUint32(value, field);
}

export function floatValue(value: unknown, field: string): number {
  return typeof value === "number" && !(value > FLOAT32_MAX || value < -FLOAT32_MAX) ? value : toFloat32(value, field);
}

// ---------------------------------------------------------------------------
// 64-bit integers. Values in the safe range take a number fast path; the rest
// go through protoInt64 (which validates like BinaryWriter) into lo/hi halves.

/** The value as a non-negative safe integer, or -1 if it is not one. */
function safeUnsigned(value: unknown): number {
  if (typeof value === "bigint") {
    if (value >= 0n && value <= 9007199254740991n) return Number(value);
    return -1;
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  return -1;
}

/** The value as a safe integer with |n| <= 2^51, or NaN. */
function safeSigned(value: unknown): number {
  if (typeof value === "bigint") {
    if (value >= -2251799813685248n && value <= 2251799813685248n) return Number(value);
    return NaN;
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && value <= SAFE_51 && value >= -SAFE_51) return value;
  return NaN;
}

interface Bits {
  lo: number;
  hi: number;
}

function signedBits(value: unknown, field: string): Bits {
  try {
    return protoInt64.enc(value as bigint);
  } catch (e) {
    throw new Error(`invalid int64 in ${field}: ${String(value)}`, { cause: e });
  }
}

function unsignedBits(value: unknown, field: string): Bits {
  try {
    return protoInt64.uEnc(value as bigint);
  } catch (e) {
    throw new Error(`invalid uint64 in ${field}: ${String(value)}`, { cause: e });
  }
}

function zigzagBits(value: unknown, field: string): Bits {
  const { lo, hi } = signedBits(value, field);
  const sign = hi >> 31;
  return { lo: ((lo << 1) ^ sign) >>> 0, hi: (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0 };
}

/** Bytes of a varint holding a non-negative safe integer. */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  if (n < 0x800000000) return 5;
  if (n < 0x40000000000) return 6;
  if (n < 0x2000000000000) return 7;
  return 8;
}

function varint64Size(lo: number, hi: number): number {
  hi >>>= 0;
  if (hi === 0) return varintSize(lo >>> 0);
  if (hi < 0x8) return 5;
  if (hi < 0x400) return 6;
  if (hi < 0x20000) return 7;
  if (hi < 0x1000000) return 8;
  if (hi < 0x80000000) return 9;
  return 10;
}

export function int32Size(value: unknown, field: string): number {
  const n = int32Value(value, field);
  return n < 0 ? 10 : varintSize(n);
}

export function uint32Size(value: unknown, field: string): number {
  return varintSize(uint32Value(value, field));
}

export function sint32Size(value: unknown, field: string): number {
  const n = int32Value(value, field);
  return varintSize(((n << 1) ^ (n >> 31)) >>> 0);
}

export function int64Size(value: unknown, field: string): number {
  const n = safeUnsigned(value);
  if (n >= 0) return varintSize(n);
  const b = signedBits(value, field);
  return varint64Size(b.lo, b.hi);
}

export function uint64Size(value: unknown, field: string): number {
  const n = safeUnsigned(value);
  if (n >= 0) return varintSize(n);
  const b = unsignedBits(value, field);
  return varint64Size(b.lo, b.hi);
}

export function sint64Size(value: unknown, field: string): number {
  const n = safeSigned(value);
  if (n === n) return varintSize(n >= 0 ? n * 2 : -n * 2 - 1);
  const b = zigzagBits(value, field);
  return varint64Size(b.lo, b.hi);
}

/** Whether a 64-bit value counts as set under implicit presence (protobuf-es: `value == 0` is unset). */
export function isSet64(value: unknown): boolean {
  return value !== undefined && value !== null && (value as number) != 0;
}

// ---------------------------------------------------------------------------
// Writers.

/** Writes a varint of a non-negative safe integer. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n > INT32_MAX) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

function writeVarint64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
  lo >>>= 0;
  hi >>>= 0;
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

export function writeInt32(buf: Uint8Array, pos: number, n: number): number {
  return n >= 0 ? writeVarint(buf, pos, n) : writeVarint64(buf, pos, n, -1);
}

export function writeSint32(buf: Uint8Array, pos: number, n: number): number {
  return writeVarint(buf, pos, ((n << 1) ^ (n >> 31)) >>> 0);
}

export function writeInt64(buf: Uint8Array, pos: number, value: unknown, field: string): number {
  const n = safeUnsigned(value);
  if (n >= 0) return writeVarint(buf, pos, n);
  const b = signedBits(value, field);
  return writeVarint64(buf, pos, b.lo, b.hi);
}

export function writeUint64(buf: Uint8Array, pos: number, value: unknown, field: string): number {
  const n = safeUnsigned(value);
  if (n >= 0) return writeVarint(buf, pos, n);
  const b = unsignedBits(value, field);
  return writeVarint64(buf, pos, b.lo, b.hi);
}

export function writeSint64(buf: Uint8Array, pos: number, value: unknown, field: string): number {
  const n = safeSigned(value);
  if (n === n) return writeVarint(buf, pos, n >= 0 ? n * 2 : -n * 2 - 1);
  const b = zigzagBits(value, field);
  return writeVarint64(buf, pos, b.lo, b.hi);
}

export function writeFixed32(buf: Uint8Array, pos: number, n: number): number {
  buf[pos] = n;
  buf[pos + 1] = n >>> 8;
  buf[pos + 2] = n >>> 16;
  buf[pos + 3] = n >>> 24;
  return pos + 4;
}

function writeFixed64Bits(buf: Uint8Array, pos: number, lo: number, hi: number): number {
  writeFixed32(buf, pos, lo);
  return writeFixed32(buf, pos + 4, hi);
}

export function writeFixed64(buf: Uint8Array, pos: number, value: unknown, field: string): number {
  const n = safeUnsigned(value);
  if (n >= 0) return writeFixed64Bits(buf, pos, n >>> 0, Math.floor(n / TWO_32));
  const b = unsignedBits(value, field);
  return writeFixed64Bits(buf, pos, b.lo, b.hi);
}

export function writeSfixed64(buf: Uint8Array, pos: number, value: unknown, field: string): number {
  const n = safeUnsigned(value);
  if (n >= 0) return writeFixed64Bits(buf, pos, n >>> 0, Math.floor(n / TWO_32));
  const b = signedBits(value, field);
  return writeFixed64Bits(buf, pos, b.lo, b.hi);
}

// Scratch for float to bytes conversion: written and read within one call, so sharing is safe.
const floatScratch = new Float32Array(1);
const floatBytes = new Uint8Array(floatScratch.buffer);
const doubleScratch = new Float64Array(1);
const doubleBytes = new Uint8Array(doubleScratch.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function writeFloat(buf: Uint8Array, pos: number, n: number): number {
  floatScratch[0] = n;
  if (littleEndian) {
    buf[pos] = floatBytes[0] as number;
    buf[pos + 1] = floatBytes[1] as number;
    buf[pos + 2] = floatBytes[2] as number;
    buf[pos + 3] = floatBytes[3] as number;
  } else {
    for (let i = 0; i < 4; i++) buf[pos + i] = floatBytes[3 - i] as number;
  }
  return pos + 4;
}

export function writeDouble(buf: Uint8Array, pos: number, n: number): number {
  doubleScratch[0] = n;
  if (littleEndian) {
    for (let i = 0; i < 8; i++) buf[pos + i] = doubleBytes[i] as number;
  } else {
    for (let i = 0; i < 8; i++) buf[pos + i] = doubleBytes[7 - i] as number;
  }
  return pos + 8;
}

export function writeBytes(buf: Uint8Array, pos: number, value: Uint8Array): number {
  const len = value.byteLength;
  pos = writeVarint(buf, pos, len);
  if (len < 32) {
    for (let i = 0; i < len; i++) buf[pos + i] = value[i] as number;
  } else {
    buf.set(value, pos);
  }
  return pos + len;
}

export function bytesSize(value: Uint8Array): number {
  const len = value.byteLength;
  return varintSize(len) + len;
}

/** UTF-8 length of a string, lone surrogates counted as U+FFFD (3 bytes) like TextEncoder. */
export function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else {
      len += 2;
    }
  }
  return len;
}

/** Writes `s` as UTF-8 (`len` bytes, from utf8Length), lone surrogates as U+FFFD. */
export function writeUtf8(buf: Uint8Array, pos: number, s: string, len: number): number {
  const n = s.length;
  if (len === n) {
    for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
    return pos + n;
  }
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        buf[pos++] = 0xf0 | (c >> 18);
        buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
        buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
        buf[pos++] = 0x80 | (c & 0x3f);
      } else {
        buf[pos++] = 0xef; // lone surrogate: U+FFFD
        buf[pos++] = 0xbf;
        buf[pos++] = 0xbd;
      }
    }
  }
  return pos;
}

/** Unknown fields as protobuf-es keeps them in `$unknown`. */
interface UnknownField {
  readonly no: number;
  readonly wireType: number;
  readonly data: Uint8Array;
}

export function unknownSize(fields: readonly UnknownField[]): number {
  let n = 0;
  for (const f of fields) n += varintSize(((f.no << 3) | f.wireType) >>> 0) + f.data.byteLength;
  return n;
}

export function writeUnknown(buf: Uint8Array, pos: number, fields: readonly UnknownField[]): number {
  for (const f of fields) {
    pos = writeVarint(buf, pos, ((f.no << 3) | f.wireType) >>> 0);
    buf.set(f.data, pos);
    pos += f.data.byteLength;
  }
  return pos;
}

// Map keys are object keys (strings); protobuf-es converts them back before writing.

export function mapKeyInt(key: string): number | string {
  const n = Number.parseInt(key);
  return Number.isFinite(n) ? n : key;
}

export function mapKeyBool(key: string): boolean | string {
  return key === "true" ? true : key === "false" ? false : key;
}

export function mapKeyInt64(key: string): bigint | string {
  try {
    return protoInt64.parse(key) as bigint;
  } catch {
    return key;
  }
}

export function mapKeyUint64(key: string): bigint | string {
  try {
    return protoInt64.uParse(key) as bigint;
  } catch {
    return key;
  }
}

// ---------------------------------------------------------------------------
// Readers. Reading past the end yields `undefined` bytes, which end a varint;
// the generated code then finds the position past the message end and throws.

/** Reads a varint as uint32 (up to 10 bytes, the high ones dropped), as BinaryReader.uint32. */
export function readVarint32(r: ReadState): number {
  const buf = r.buf;
  let pos = r.pos;
  let b = buf[pos++] as number;
  if (b < 0x80) {
    r.pos = pos;
    return b;
  }
  let result = b & 0x7f;
  b = buf[pos++] as number;
  result |= (b & 0x7f) << 7;
  if (b < 0x80) {
    r.pos = pos;
    return result;
  }
  return readVarint32Tail(r, pos, result);
}

function readVarint32Tail(r: ReadState, pos: number, result: number): number {
  const buf = r.buf;
  let b = buf[pos++] as number;
  result |= (b & 0x7f) << 14;
  if ((b & 0x80) === 0) {
    r.pos = pos;
    return result;
  }
  b = buf[pos++] as number;
  result |= (b & 0x7f) << 21;
  if ((b & 0x80) === 0) {
    r.pos = pos;
    return result;
  }
  b = buf[pos++] as number;
  result |= (b & 0x0f) << 28;
  for (let read = 5; (b & 0x80) !== 0 && read < 10; read++) b = buf[pos++] as number;
  if ((b & 0x80) !== 0) throw new Error("invalid varint");
  r.pos = pos;
  return result >>> 0;
}

/** Re-reads a tag whose first byte (already consumed) was >= 0x80; rejects tags over uint32 as BinaryReader.tag. */
export function readTagTail(r: ReadState): number {
  const start = r.pos - 1;
  r.pos = start;
  const tag = readVarint32(r);
  const read = r.pos - start;
  if (read > 5 || (read === 5 && (r.buf[r.pos - 1] as number) > 0x0f)) {
    throw new Error("illegal tag: varint overflows uint32");
  }
  return tag;
}

/** Reads a 64-bit varint into r.lo / r.hi (algorithm of BinaryReader's varint64read). */
export function readVarint64(r: ReadState): void {
  const buf = r.buf;
  let lo = 0;
  let hi = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const b = buf[r.pos++] as number;
    lo |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      r.lo = lo;
      r.hi = hi;
      return;
    }
  }
  const middle = buf[r.pos++] as number;
  lo |= (middle & 0x0f) << 28;
  hi = (middle & 0x70) >> 4;
  if ((middle & 0x80) === 0) {
    r.lo = lo;
    r.hi = hi;
    return;
  }
  for (let shift = 3; shift <= 31; shift += 7) {
    const b = buf[r.pos++] as number;
    hi |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      r.lo = lo;
      r.hi = hi;
      return;
    }
  }
  throw new Error("invalid varint");
}

function signedBigint(lo: number, hi: number): bigint {
  if (hi >= 0 && hi < 0x200000) return BigInt(hi * TWO_32 + (lo >>> 0));
  return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
}

function unsignedBigint(lo: number, hi: number): bigint {
  hi >>>= 0;
  if (hi < 0x200000) return BigInt(hi * TWO_32 + (lo >>> 0));
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

export function readInt64(r: ReadState): bigint {
  const b = r.buf[r.pos] as number;
  if (b < 0x80) {
    r.pos++;
    return BigInt(b);
  }
  readVarint64(r);
  return signedBigint(r.lo, r.hi);
}

export function readUint64(r: ReadState): bigint {
  const b = r.buf[r.pos] as number;
  if (b < 0x80) {
    r.pos++;
    return BigInt(b);
  }
  readVarint64(r);
  return unsignedBigint(r.lo, r.hi);
}

export function readSint64(r: ReadState): bigint {
  readVarint64(r);
  const lo = r.lo;
  const hi = r.hi;
  const s = -(lo & 1);
  return signedBigint(((lo >>> 1) | ((hi & 1) << 31)) ^ s, (hi >>> 1) ^ s);
}

export function readBool(r: ReadState): boolean {
  const b = r.buf[r.pos] as number;
  if (b < 0x80) {
    r.pos++;
    return b !== 0;
  }
  readVarint64(r);
  return r.lo !== 0 || r.hi !== 0;
}

export function readSint32(r: ReadState): number {
  const n = readVarint32(r);
  return (n >>> 1) ^ -(n & 1);
}

export function readFixed32(r: ReadState): number {
  const buf = r.buf;
  const p = r.pos;
  r.pos = p + 4;
  return ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) + (buf[p + 3] as number) * 0x1000000;
}

export function readSfixed32(r: ReadState): number {
  const buf = r.buf;
  const p = r.pos;
  r.pos = p + 4;
  return (buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16) | ((buf[p + 3] as number) << 24);
}

export function readFixed64(r: ReadState): bigint {
  const lo = readSfixed32(r);
  return unsignedBigint(lo, readSfixed32(r));
}

export function readSfixed64(r: ReadState): bigint {
  const lo = readSfixed32(r);
  return signedBigint(lo, readSfixed32(r));
}

function view(r: ReadState): DataView {
  if (r.view === undefined) r.view = new DataView(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength);
  return r.view;
}

export function readFloat(r: ReadState): number {
  const p = r.pos;
  r.pos = p + 4;
  return view(r).getFloat32(p, true);
}

export function readDouble(r: ReadState): number {
  const p = r.pos;
  r.pos = p + 8;
  return view(r).getFloat64(p, true);
}

/** Reads a length prefix and checks that the data fits before `end`; returns the data's end. */
export function readLengthEnd(r: ReadState, end: number): number {
  const len = readVarint32(r);
  const e = r.pos + len;
  if (e > end) throw new Error("premature EOF");
  return e;
}

export function readBytes(r: ReadState, end: number): Uint8Array {
  const e = readLengthEnd(r, end);
  const start = r.pos;
  r.pos = e;
  return r.buf.subarray(start, e);
}

// Stateless, so sharing them is safe.
const lenientDecoder = new TextDecoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
/** Node's Buffer#latin1Slice (also works on a plain Uint8Array): the fastest way to make a short ASCII string. */
const latin1Slice = (globalThis as { Buffer?: { prototype: { latin1Slice?: (start: number, end: number) => string } } }).Buffer?.prototype
  .latin1Slice;

/** Reads a string; `strict` throws on invalid UTF-8 (proto3), else substitutes U+FFFD. */
export function readString(r: ReadState, end: number, strict: boolean): string {
  const e = readLengthEnd(r, end);
  const buf = r.buf;
  const start = r.pos;
  r.pos = e;
  if (e - start <= 32 && latin1Slice !== undefined) {
    // Short strings are mostly ASCII, for which TextDecoder's call overhead dominates.
    let i = start;
    while (i < e && (buf[i] as number) < 0x80) i++;
    if (i === e) return latin1Slice.call(buf, start, e);
  }
  const bytes = buf.subarray(start, e);
  return strict ? strictDecoder.decode(bytes) : lenientDecoder.decode(bytes);
}

/**
 * Skips a field that the message does not declare (unknown fields are dropped),
 * validating its tag like BinaryReader.tag and .skip. Returns nothing; throws on
 * malformed input.
 */
export function skipField(r: ReadState, tag: number, end: number, depth: number, limit: number): void {
  const no = tag >>> 3;
  const wireType = tag & 7;
  if (no <= 0 || wireType > 5) throw new Error(`illegal tag: field no ${no} wire type ${wireType}`);
  switch (wireType) {
    case 0:
      readVarint64(r);
      break;
    case 1:
      r.pos += 8;
      break;
    case 2:
      r.pos = readLengthEnd(r, end);
      break;
    case 3: {
      if (depth >= limit) throw new Error("maximum recursion depth reached");
      for (;;) {
        if (r.pos >= end) throw new Error("premature EOF");
        let t = r.buf[r.pos++] as number;
        if (t >= 0x80) t = readTagTail(r);
        if ((t & 7) === 4) {
          if (t >>> 3 !== no) throw new Error("invalid end group tag");
          break;
        }
        skipField(r, t, end, depth + 1, limit);
      }
      break;
    }
    case 4:
      throw new Error("unexpected end group tag");
    default: // 5
      r.pos += 4;
  }
  if (r.pos > end) throw new Error("premature EOF");
}
