// Generates the JavaScript source of one message type's codec functions. Only
// numbers (field numbers, tags, constants) and JSON-quoted names from the
// descriptor are ever interpolated into the source.
import { ScalarType } from "@bufbuild/protobuf";
import type { DescField, DescMessage, DescOneof } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";

/** protobuf-es' recursion limit for fromBinary. */
export const RECURSION_LIMIT = 100;

/** Source of a factory `(R, D) => ({ create, size, write, decode })`; `deps` lists the message types of `D`. */
export interface CodecSource {
  readonly body: string;
  readonly deps: readonly DescMessage[];
}

const WT_VARINT = 0;
const WT_BIT64 = 1;
const WT_LEN = 2;
const WT_BIT32 = 5;

const q = (s: string): string => JSON.stringify(s);

function wireType(t: ScalarType): number {
  switch (t) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WT_LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WT_BIT64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WT_BIT32;
    default:
      return WT_VARINT;
  }
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** A tag as a compile-time constant: its value, byte length and the statements writing it. */
function tagOf(no: number, wt: number): { value: number; len: number; write: string } {
  const value = ((no << 3) | wt) >>> 0;
  const bytes = varintBytes(value);
  return { value, len: bytes.length, write: bytes.map((b) => `buf[pos++] = ${b};`).join(" ") };
}

/** Fixed byte width of a scalar type, or 0 for varints and length-delimited types. */
function fixedWidth(t: ScalarType): number {
  const wt = wireType(t);
  return wt === WT_BIT64 ? 8 : wt === WT_BIT32 ? 4 : 0;
}

/** Expression: byte length of value `v` (no tag) for types other than string. */
function sizeExpr(t: ScalarType, v: string, f: string): string {
  switch (t) {
    case ScalarType.INT32:
      return `int32Size(${v}, ${f})`;
    case ScalarType.UINT32:
      return `uint32Size(${v}, ${f})`;
    case ScalarType.SINT32:
      return `sint32Size(${v}, ${f})`;
    case ScalarType.INT64:
      return `int64Size(${v}, ${f})`;
    case ScalarType.UINT64:
      return `uint64Size(${v}, ${f})`;
    case ScalarType.SINT64:
      return `sint64Size(${v}, ${f})`;
    case ScalarType.BOOL:
      return "1";
    case ScalarType.BYTES:
      return `bytesSize(${v})`;
    default:
      return String(fixedWidth(t));
  }
}

/** Statements adding tag + value size of `v` to `acc`; strings record their length in `sz`. */
function emitValueSize(t: ScalarType, v: string, f: string, tagLen: number, acc: string): string {
  if (t === ScalarType.STRING) {
    return `{ const l = utf8Length(${v}); sz[w.n++] = l; ${acc} += ${tagLen} + varintSize(l) + l; }`;
  }
  return `${acc} += ${tagLen} + ${sizeExpr(t, v, f)};`;
}

/** Statements writing value `v` (no tag) at `pos`. */
function emitValueWrite(t: ScalarType, v: string, f: string): string {
  switch (t) {
    case ScalarType.DOUBLE:
      return `pos = writeDouble(buf, pos, ${v});`;
    case ScalarType.FLOAT:
      return `pos = writeFloat(buf, pos, floatValue(${v}, ${f}));`;
    case ScalarType.INT32:
      return `pos = writeInt32(buf, pos, int32Value(${v}, ${f}));`;
    case ScalarType.UINT32:
      return `pos = writeVarint(buf, pos, uint32Value(${v}, ${f}));`;
    case ScalarType.SINT32:
      return `pos = writeSint32(buf, pos, int32Value(${v}, ${f}));`;
    case ScalarType.INT64:
      return `pos = writeInt64(buf, pos, ${v}, ${f});`;
    case ScalarType.UINT64:
      return `pos = writeUint64(buf, pos, ${v}, ${f});`;
    case ScalarType.SINT64:
      return `pos = writeSint64(buf, pos, ${v}, ${f});`;
    case ScalarType.FIXED32:
      return `pos = writeFixed32(buf, pos, uint32Value(${v}, ${f}));`;
    case ScalarType.SFIXED32:
      return `pos = writeFixed32(buf, pos, int32Value(${v}, ${f}));`;
    case ScalarType.FIXED64:
      return `pos = writeFixed64(buf, pos, ${v}, ${f});`;
    case ScalarType.SFIXED64:
      return `pos = writeSfixed64(buf, pos, ${v}, ${f});`;
    case ScalarType.BOOL:
      return `buf[pos++] = ${v} ? 1 : 0;`;
    case ScalarType.BYTES:
      return `pos = writeBytes(buf, pos, ${v});`;
    case ScalarType.STRING:
      return `{ const l = sz[w.si++]; pos = writeVarint(buf, pos, l); pos = writeUtf8(buf, pos, ${v}, l); }`;
  }
}

/** Expression: whether `v` is set under implicit presence (protobuf-es' isScalarZeroValue negated; undefined is unset). */
function isSetExpr(t: ScalarType, v: string): string {
  switch (t) {
    case ScalarType.BOOL:
      return `(${v} != null && ${v} !== false)`;
    case ScalarType.STRING:
      return `(${v} != null && ${v} !== "")`;
    case ScalarType.BYTES:
      return `(${v} != null && ${v}.byteLength !== 0)`;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return `(${v} != null && (${v} !== 0 || 1 / ${v} < 0))`;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return `isSet64(${v})`;
    default:
      return `(${v} != null && ${v} != 0)`;
  }
}

/** Expression reading one value; `end` bounds length-delimited values. */
function readExpr(t: ScalarType, end: string, strict: boolean, longAsString: boolean): string {
  let e: string;
  switch (t) {
    case ScalarType.DOUBLE:
      return "readDouble(r)";
    case ScalarType.FLOAT:
      return "readFloat(r)";
    case ScalarType.INT32:
      return "(readVarint32(r) | 0)";
    case ScalarType.UINT32:
      return "readVarint32(r)";
    case ScalarType.SINT32:
      return "readSint32(r)";
    case ScalarType.FIXED32:
      return "readFixed32(r)";
    case ScalarType.SFIXED32:
      return "readSfixed32(r)";
    case ScalarType.BOOL:
      return "readBool(r)";
    case ScalarType.STRING:
      return `readString(r, ${end}, ${strict})`;
    case ScalarType.BYTES:
      return `readBytes(r, ${end})`;
    case ScalarType.INT64:
      e = "readInt64(r)";
      break;
    case ScalarType.UINT64:
      e = "readUint64(r)";
      break;
    case ScalarType.SINT64:
      e = "readSint64(r)";
      break;
    case ScalarType.FIXED64:
      e = "readFixed64(r)";
      break;
    case ScalarType.SFIXED64:
      e = "readSfixed64(r)";
      break;
  }
  return longAsString ? `String(${e})` : e;
}

/** Literal of the zero value (as create() sets it). */
function zeroLiteral(t: ScalarType, longAsString: boolean): string {
  switch (t) {
    case ScalarType.STRING:
      return '""';
    case ScalarType.BOOL:
      return "false";
    case ScalarType.BYTES:
      return "new Uint8Array(0)";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return longAsString ? '"0"' : "0n";
    default:
      return "0";
  }
}

/** Map keys are object keys; protobuf-es converts them back to the key type before writing. */
function mapKeyExpr(t: ScalarType, k: string): string {
  switch (t) {
    case ScalarType.STRING:
      return k;
    case ScalarType.BOOL:
      return `mapKeyBool(${k})`;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return `mapKeyInt64(${k})`;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return `mapKeyUint64(${k})`;
    default:
      return `mapKeyInt(${k})`;
  }
}

const scalarOf = (f: DescField): ScalarType => ("scalar" in f && f.scalar !== undefined ? f.scalar : ScalarType.INT32);

/** The scalar type of a wrapper message's `value` field, when `f` is a field protobuf-es unwraps. */
function unwrappedScalar(f: DescField): ScalarType | undefined {
  if (f.fieldKind !== "message" || f.oneof !== undefined || !isWrapperDesc(f.message)) return undefined;
  return scalarOf(f.message.fields[0] as DescField);
}

/** Generates the codec source of one message type. Assumes the type passed checkSupported. */
export function codecSource(desc: DescMessage): CodecSource {
  const deps: DescMessage[] = [];
  const depName = (d: DescMessage): string => {
    let i = deps.indexOf(d);
    if (i < 0) i = deps.push(d) - 1;
    return `D${i}`;
  };
  const oneofVar = new Map<DescOneof, string>(desc.oneofs.map((o, i) => [o, `c${i}`]));
  const size: string[] = [];
  const write: string[] = [];
  const cases: string[] = [];
  const known: string[] = [];
  const zero: string[] = [`$typeName: ${q(desc.typeName)}`];

  for (const member of desc.members) {
    if (member.kind === "oneof") zero.push(`${q(member.localName)}: { case: undefined }`);
    else if (member.fieldKind === "list") zero.push(`${q(member.localName)}: []`);
    else if (member.fieldKind === "map") zero.push(`${q(member.localName)}: {}`);
    else if (member.fieldKind !== "message" && member.presence === 2 /* IMPLICIT */) {
      const literal =
        member.fieldKind === "enum" ? String(member.enum.values[0]?.number ?? 0) : zeroLiteral(scalarOf(member), member.longAsString);
      zero.push(`${q(member.localName)}: ${literal}`);
    }
  }

  for (const field of desc.fields.slice().sort((a, b) => a.number - b.number)) {
    const f = q(`${desc.typeName}.${field.name}`);
    const name = q(field.localName);
    const strict = field.utf8Validation;
    known.push(`case ${field.number}: throw wireTypeError(${f}, tag & 7);`);
    // `present(cond, body)`: runs body with the field's value in `v` when cond (about `v`) holds;
    // a oneof member is present when its case is selected, whatever the value.
    const present = (cond: string, body: string): string => {
      if (field.oneof) {
        return `if (${oneofVar.get(field.oneof)} === ${name}) { const v = m[${q(field.oneof.localName)}].value; ${body} }`;
      }
      return `{ const v = m[${name}]; if (${cond}) { ${body} } }`;
    };
    const set = (value: string): string =>
      field.oneof ? `m[${q(field.oneof.localName)}] = { case: ${name}, value: ${value} };` : `m[${name}] = ${value};`;

    switch (field.fieldKind) {
      case "scalar":
      case "enum": {
        const t = field.fieldKind === "enum" ? ScalarType.INT32 : scalarOf(field);
        const tag = tagOf(field.number, wireType(t));
        const implicit = !field.oneof && field.presence === 2;
        const cond = !implicit
          ? "v != null"
          : field.fieldKind === "enum"
            ? `v != null && v !== ${field.enum.values[0]?.number ?? 0}`
            : isSetExpr(t, "v");
        size.push(present(cond, emitValueSize(t, "v", f, tag.len, "n")));
        write.push(present(cond, `${tag.write} ${emitValueWrite(t, "v", f)}`));
        const longAsString = field.fieldKind === "scalar" && field.longAsString;
        cases.push(`case ${tag.value}: ${set(readExpr(t, "end", strict, longAsString))} break;`);
        break;
      }
      case "message": {
        const d = depName(field.message);
        const tag = tagOf(field.number, WT_LEN);
        const wrapped = unwrappedScalar(field);
        if (wrapped !== undefined) {
          const inner = tagOf(1, wireType(wrapped));
          const d1 = q(`${field.message.typeName}.value`);
          size.push(
            `{ const v = m[${name}]; if (v != null) { const i = w.n++; let s = 0; if (${isSetExpr(wrapped, "v")}) { ${emitValueSize(wrapped, "v", d1, inner.len, "s")} } sz[i] = s; n += ${tag.len} + varintSize(s) + s; } }`,
          );
          write.push(
            `{ const v = m[${name}]; if (v != null) { ${tag.write} pos = writeVarint(buf, pos, sz[w.si++]); if (${isSetExpr(wrapped, "v")}) { ${inner.write} ${emitValueWrite(wrapped, "v", d1)} } } }`,
          );
          cases.push(
            `case ${tag.value}: { const e = readLengthEnd(r, end); const t = ${d}.create(); if (m[${name}] !== undefined) t.value = m[${name}]; m[${name}] = ${d}.decode(r, e, depth + 1, t).value; break; }`,
          );
          break;
        }
        size.push(present("v != null", emitMessageSize(d, "v", tag.len, "n")));
        write.push(present("v != null", `${tag.write} ${emitMessageWrite(d, "v")}`));
        const target = field.oneof
          ? `(m[${q(field.oneof.localName)}].case === ${name} ? m[${q(field.oneof.localName)}].value : ${d}.create())`
          : `(m[${name}] ?? ${d}.create())`;
        cases.push(`case ${tag.value}: { const e = readLengthEnd(r, end); ${set(`${d}.decode(r, e, depth + 1, ${target})`)} break; }`);
        break;
      }
      case "list": {
        const head = `{ const a = m[${name}]; if (a != null && a.length > 0) {`;
        if (field.listKind === "message") {
          const d = depName(field.message);
          const tag = tagOf(field.number, WT_LEN);
          size.push(`${head} for (let j = 0; j < a.length; j++) { const v = a[j]; ${emitMessageSize(d, "v", tag.len, "n")} } } }`);
          write.push(`${head} for (let j = 0; j < a.length; j++) { const v = a[j]; ${tag.write} ${emitMessageWrite(d, "v")} } } }`);
          cases.push(
            `case ${tag.value}: { const e = readLengthEnd(r, end); m[${name}].push(${d}.decode(r, e, depth + 1, ${d}.create())); break; }`,
          );
          break;
        }
        const t = field.listKind === "enum" ? ScalarType.INT32 : scalarOf(field);
        const longAsString = field.listKind === "scalar" && field.longAsString;
        const read = readExpr(t, "end", strict, longAsString);
        const tag = tagOf(field.number, wireType(t));
        cases.push(`case ${tag.value}: m[${name}].push(${read}); break;`);
        if (wireType(t) !== WT_LEN) {
          const packedTag = tagOf(field.number, WT_LEN);
          cases.push(
            `case ${packedTag.value}: { const e = readLengthEnd(r, end); const a = m[${name}]; while (r.pos < e) a.push(${read}); if (r.pos !== e) throw eof(${q(desc.typeName)}); break; }`,
          );
        }
        if (field.packed) {
          const packedTag = tagOf(field.number, WT_LEN);
          const width = fixedWidth(t);
          if (width > 0) {
            size.push(`${head} const s = a.length * ${width}; n += ${packedTag.len} + varintSize(s) + s; } }`);
            write.push(
              `${head} ${packedTag.write} pos = writeVarint(buf, pos, a.length * ${width}); for (let j = 0; j < a.length; j++) { const v = a[j]; ${emitValueWrite(t, "v", f)} } } }`,
            );
          } else {
            size.push(
              `${head} let s = 0; for (let j = 0; j < a.length; j++) { const v = a[j]; s += ${sizeExpr(t, "v", f)}; } sz[w.n++] = s; n += ${packedTag.len} + varintSize(s) + s; } }`,
            );
            write.push(
              `${head} ${packedTag.write} pos = writeVarint(buf, pos, sz[w.si++]); for (let j = 0; j < a.length; j++) { const v = a[j]; ${emitValueWrite(t, "v", f)} } } }`,
            );
          }
        } else {
          size.push(`${head} for (let j = 0; j < a.length; j++) { const v = a[j]; ${emitValueSize(t, "v", f, tag.len, "n")} } } }`);
          write.push(`${head} for (let j = 0; j < a.length; j++) { const v = a[j]; ${tag.write} ${emitValueWrite(t, "v", f)} } } }`);
        }
        break;
      }
      case "map": {
        const tag = tagOf(field.number, WT_LEN);
        const keyType = field.mapKey;
        const keyTag = tagOf(1, wireType(keyType));
        let valueSize: string;
        let valueWrite: string;
        let valueRead: string;
        let valueZero: string;
        let valueTag: ReturnType<typeof tagOf>;
        if (field.mapKind === "message") {
          const d = depName(field.message);
          valueTag = tagOf(2, WT_LEN);
          valueSize = emitMessageSize(d, "v", valueTag.len, "e");
          valueWrite = `${valueTag.write} ${emitMessageWrite(d, "v")}`;
          valueRead = `${d}.decode(r, readLengthEnd(r, e), depth + 1, ${d}.create())`;
          valueZero = `${d}.create()`;
        } else {
          const t = field.mapKind === "enum" ? ScalarType.INT32 : scalarOf(field);
          valueTag = tagOf(2, wireType(t));
          valueSize = emitValueSize(t, "v", f, valueTag.len, "e");
          valueWrite = `${valueTag.write} ${emitValueWrite(t, "v", f)}`;
          valueRead = readExpr(t, "e", strict, false);
          valueZero = field.mapKind === "enum" ? String(field.enum.values[0]?.number ?? 0) : zeroLiteral(t, false);
        }
        const head = `{ const o = m[${name}]; if (o != null) { for (const k of Object.keys(o)) { const key = ${mapKeyExpr(keyType, "k")}; const v = o[k];`;
        size.push(
          `${head} const i = w.n++; let e = 0; ${emitValueSize(keyType, "key", f, keyTag.len, "e")} ${valueSize} sz[i] = e; n += ${tag.len} + varintSize(e) + e; } } }`,
        );
        write.push(
          `${head} ${tag.write} pos = writeVarint(buf, pos, sz[w.si++]); ${keyTag.write} ${emitValueWrite(keyType, "key", f)} ${valueWrite} } } }`,
        );
        cases.push(
          `case ${tag.value}: { const e = readLengthEnd(r, end); let k = ${zeroLiteral(keyType, false)}; let v = undefined; ` +
            `while (r.pos < e) { let t = buf[r.pos++]; if (t >= 128) t = readTagTail(r); ` +
            `if (t === ${keyTag.value}) k = ${readExpr(keyType, "e", strict, false)}; ` +
            `else if (t === ${valueTag.value}) v = ${valueRead}; ` +
            `else if (t >>> 3 === 1 || t >>> 3 === 2) throw wireTypeError(${f}, t & 7); ` +
            `else skipField(r, t, e, depth, ${RECURSION_LIMIT}); } ` +
            `if (r.pos !== e) throw eof(${q(desc.typeName)}); m[${name}][k] = v === undefined ? ${valueZero} : v; break; }`,
        );
        break;
      }
    }
  }

  const oneofHeads = desc.oneofs
    .map((o) => `const ${oneofVar.get(o)} = m[${q(o.localName)}] != null ? m[${q(o.localName)}].case : undefined;`)
    .join("\n  ");
  const body = `"use strict";
const { ${RUNTIME_NAMES.join(", ")} } = R;
${deps.map((_, i) => `const D${i} = D[${i}];`).join("\n")}
function create() {
  return { ${zero.join(", ")} };
}
function size(m, w) {
  const sz = w.sizes;
  ${oneofHeads}
  let n = 0;
  ${size.join("\n  ")}
  if (m.$unknown !== undefined) n += unknownSize(m.$unknown);
  return n;
}
function write(m, w) {
  const buf = w.buf;
  const sz = w.sizes;
  ${oneofHeads}
  let pos = w.pos;
  ${write.join("\n  ")}
  if (m.$unknown !== undefined) pos = writeUnknown(buf, pos, m.$unknown);
  w.pos = pos;
}
function decode(r, end, depth, m) {
  if (depth > ${RECURSION_LIMIT}) throw new Error("maximum recursion depth of ${RECURSION_LIMIT} reached in " + ${q(desc.typeName)});
  const buf = r.buf;
  while (r.pos < end) {
    let tag = buf[r.pos++];
    if (tag >= 128) tag = readTagTail(r);
    switch (tag) {
      ${cases.join("\n      ")}
      default:
        switch (tag >>> 3) {
          ${known.join("\n          ")}
        }
        skipField(r, tag, end, depth, ${RECURSION_LIMIT});
    }
  }
  if (r.pos !== end) throw eof(${q(desc.typeName)});
  return m;
}
return { create, size, write, decode };
`;
  return { body, deps };
}

function emitMessageSize(d: string, v: string, tagLen: number, acc: string): string {
  return `{ const i = w.n++; const s = ${v} == null ? 0 : ${d}.size(${v}, w); sz[i] = s; ${acc} += ${tagLen} + varintSize(s) + s; }`;
}

function emitMessageWrite(d: string, v: string): string {
  return `pos = writeVarint(buf, pos, sz[w.si++]); if (${v} != null) { w.pos = pos; ${d}.write(${v}, w); pos = w.pos; }`;
}

/** Runtime helpers the generated code destructures from `R`. */
export const RUNTIME_NAMES = [
  "int32Value",
  "uint32Value",
  "floatValue",
  "int32Size",
  "uint32Size",
  "sint32Size",
  "int64Size",
  "uint64Size",
  "sint64Size",
  "isSet64",
  "varintSize",
  "bytesSize",
  "utf8Length",
  "unknownSize",
  "writeVarint",
  "writeInt32",
  "writeSint32",
  "writeInt64",
  "writeUint64",
  "writeSint64",
  "writeFixed32",
  "writeFixed64",
  "writeSfixed64",
  "writeFloat",
  "writeDouble",
  "writeBytes",
  "writeUtf8",
  "writeUnknown",
  "mapKeyInt",
  "mapKeyBool",
  "mapKeyInt64",
  "mapKeyUint64",
  "readVarint32",
  "readTagTail",
  "readInt64",
  "readUint64",
  "readSint64",
  "readBool",
  "readSint32",
  "readFixed32",
  "readSfixed32",
  "readFixed64",
  "readSfixed64",
  "readFloat",
  "readDouble",
  "readLengthEnd",
  "readBytes",
  "readString",
  "skipField",
  "wireTypeError",
  "eof",
] as const;
