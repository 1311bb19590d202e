import type { DescField, DescMessage, Message, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { protoInt64 } from "@bufbuild/protobuf";
import { RUNTIME_NAMES, codecSource } from "./codec-source.js";
import * as wire from "./wire-runtime.js";
import type { ReadState, WriteState } from "./wire-runtime.js";

/** Binary encoder and decoder of one message type: encodes a message or a plain init object, decodes to a message. */
export interface Codec<Desc extends DescMessage = DescMessage> {
  /**
   * Encodes like `toBinary(schema, message)`: the same bytes for the same message,
   * including `$unknown` fields. On Node the result is a Buffer that may be a view
   * into Buffer's shared pool (as from `Buffer.allocUnsafe`): honour its
   * `byteOffset`/`byteLength` rather than using its whole `.buffer`. Fields that are `undefined` (or `null`) count as
   * unset, so a partial object without `$typeName` encodes too. Invalid values
   * (an int32 of 1.5, a uint64 of -1n) throw an Error naming the type and field.
   */
  encode(message: MessageInitShape<Desc>): Uint8Array;
  /**
   * Decodes like `fromBinary(schema, bytes)`, except that unknown fields are
   * dropped (protobuf-es keeps them in `$unknown`). Malformed input (truncated
   * data, a wrong wire type for a declared field, an invalid varint or tag, invalid
   * UTF-8 in a proto3 string, nesting deeper than 100) throws an Error whose
   * message names the message type.
   */
  decode(bytes: Uint8Array): MessageShape<Desc>;
}

/** A compiled message type as held by a {@link CodecCache}; opaque to callers. */
export interface CodecCacheEntry {
  /** The message type's full name. */
  readonly typeName: string;
}

/**
 * Compiled codecs by message type name. The caller owns it (one per server or
 * client, say) and passes it to every {@link compileCodec} call, so that a type used
 * by many methods, or reached from several messages or recursively, compiles once.
 */
export type CodecCache = Map<string, CodecCacheEntry>;

/** Creates an empty {@link CodecCache}. */
export function createCodecCache(): CodecCache {
  return new Map();
}

/**
 * Compiles a binary codec for a message type, generating specialised JavaScript
 * (`new Function`) for it and for every message type reachable from it. Only field
 * numbers, tags and JSON-quoted names from the descriptor go into the generated
 * source, never data. Compiling is done once per type and cache; the codec returned
 * for a cached type is the same object.
 *
 * Supports proto3 (and editions files without explicit presence on scalar
 * fields): every scalar type, `optional`, open enums, messages, packed and unpacked
 * lists, maps, oneofs, `jstype = JS_STRING`, and the well-known types, including
 * the wrappers that protobuf-es unwraps. Throws at compile time, naming the type,
 * for what it does not support: proto2 (default values, required fields, closed
 * enums, groups), `google.protobuf.Struct` fields (a JsonObject in protobuf-es),
 * and runtimes without BigInt.
 *
 * @param schema The message type.
 * @param cache Where compiled types are kept and looked up.
 * @default cache a fresh cache, used for this call only
 */
export function compileCodec<Desc extends DescMessage>(schema: Desc, cache: CodecCache = createCodecCache()): Codec<Desc> {
  const entries = cache as Map<string, Entry>;
  let entry = entries.get(schema.typeName);
  if (entry === undefined) {
    const added: string[] = [];
    try {
      compileTree(schema, entries, added);
    } catch (error) {
      // A half-compiled tree must not leak into the caller's cache.
      for (const name of added) entries.delete(name);
      throw error;
    }
    entry = entries.get(schema.typeName) as Entry;
  }
  entry.codec ??= createCodec(entry);
  return entry.codec as unknown as Codec<Desc>;
}

// ---------------------------------------------------------------------------
// Internals.

type Fields = Record<string, unknown>;

/** The generated functions of one message type (see codec-source.ts). */
interface Compiled {
  /** A message with every field at its zero value, as `create(schema)` makes it. */
  create(): Fields;
  /** Byte length of the message's fields; records nested lengths in `w.sizes`. */
  size(message: Fields, w: WriteState): number;
  /** Writes the message's fields at `w.pos`, consuming `w.sizes` in the same order. */
  write(message: Fields, w: WriteState): void;
  /** Reads fields into `target` up to `end`, merging like mergeFromBinary. */
  decode(r: ReadState, end: number, depth: number, target: Fields): Fields;
}

interface Entry extends CodecCacheEntry, Compiled {
  codec: Codec | undefined;
}

const runtime: Record<string, unknown> = {
  ...wire,
  wireTypeError: (field: string, wireType: number) => new Error(`wrong wire type ${wireType} for field ${field}`),
  eof: (typeName: string) => new Error(`premature EOF in ${typeName}`),
};

for (const name of RUNTIME_NAMES) {
  if (typeof runtime[name] !== "function") throw new Error(`codec runtime lacks ${name}`);
}

const notCompiled = (): never => {
  throw new Error("codec used before compiled");
};

function compileTree(root: DescMessage, cache: Map<string, Entry>, added: string[]): void {
  if (!protoInt64.supported) throw new Error("compileCodec needs BigInt support");
  // Pass 1: a placeholder entry for every new type of the tree, so that generated
  // code can refer to any of them, cycles included.
  const pending: DescMessage[] = [];
  const stack = [root];
  for (let desc = stack.pop(); desc !== undefined; desc = stack.pop()) {
    if (cache.has(desc.typeName)) continue;
    checkSupported(desc);
    cache.set(desc.typeName, {
      typeName: desc.typeName,
      codec: undefined,
      create: notCompiled,
      size: notCompiled,
      write: notCompiled,
      decode: notCompiled,
    });
    added.push(desc.typeName);
    pending.push(desc);
    for (const field of desc.fields) {
      if (field.message !== undefined) stack.push(field.message);
    }
  }
  // Pass 2: generate and link.
  for (const desc of pending) {
    const { body, deps } = codecSource(desc);
    const factory = new Function("R", "D", body) as (r: unknown, d: readonly Entry[]) => Compiled;
    const compiled = factory(
      runtime,
      deps.map((d) => cache.get(d.typeName) as Entry),
    );
    Object.assign(cache.get(desc.typeName) as Entry, compiled);
  }
}

// bootstrap-inject google.protobuf.Edition / FieldPresence values, as protobuf-es does.
const EDITION_PROTO3 = 999;
const IMPLICIT = 2;

function checkSupported(desc: DescMessage): void {
  const unsupported = (what: string): never => {
    throw new Error(`compileCodec: ${desc.typeName}: ${what} is not supported`);
  };
  if (desc.file.edition !== EDITION_PROTO3) {
    // proto2 and editions: fine as long as protobuf-es does not need a prototype
    // chain for presence and defaults (explicit presence on a scalar outside a oneof).
    for (const f of desc.fields) {
      if (
        f.presence !== IMPLICIT &&
        f.fieldKind !== "message" &&
        f.oneof === undefined &&
        (f.fieldKind === "scalar" || f.fieldKind === "enum")
      ) {
        unsupported(`field ${f.name} with explicit presence outside proto3 (default values, required)`);
      }
    }
  }
  for (const f of desc.fields) {
    if (isDelimited(f)) unsupported(`field ${f.name} with delimited (group) encoding`);
    if (f.enum !== undefined && !f.enum.open) unsupported(`field ${f.name} of closed enum ${f.enum.typeName}`);
    if (f.message?.typeName === "google.protobuf.Struct" && desc.typeName !== "google.protobuf.Value") {
      unsupported(`field ${f.name} of type google.protobuf.Struct (a JsonObject in protobuf-es)`);
    }
  }
}

function isDelimited(f: DescField): boolean {
  return "delimitedEncoding" in f && f.delimitedEncoding === true;
}

function createCodec(entry: Entry): Codec {
  const reader = wire.createReadState();
  const writer = wire.createWriteState();
  const typeName = entry.typeName;
  return {
    encode(message) {
      // A getter that encodes with this codec while we are encoding gets its own state.
      const w = writer.busy ? wire.createWriteState() : writer;
      w.busy = true;
      try {
        w.n = 0;
        const length = entry.size(message as unknown as Fields, w);
        const buf = allocate(length);
        w.buf = buf;
        w.pos = 0;
        w.si = 0;
        entry.write(message as unknown as Fields, w);
        if (w.pos !== length || w.si !== w.n) throw new Error("message changed while encoding");
        return buf;
      } catch (error) {
        throw new Error(`cannot encode ${typeName} to binary: ${messageOf(error)}`, { cause: error });
      } finally {
        w.busy = false;
        w.buf = EMPTY;
      }
    },
    decode(bytes) {
      const r = reader;
      r.buf = bytes;
      r.pos = 0;
      r.view = undefined;
      try {
        return entry.decode(r, bytes.length, 1, entry.create()) as unknown as Message;
      } catch (error) {
        throw new Error(`cannot decode ${typeName} from binary: ${messageOf(error)}`, { cause: error });
      } finally {
        r.buf = EMPTY;
        r.view = undefined;
      }
    },
  };
}

const EMPTY = new Uint8Array(0);

/**
 * Output buffers: every byte is written, so they need no zero fill. Node's
 * Buffer.allocUnsafe takes small ones from its shared pool, which makes encoding
 * about a third faster than `new Uint8Array(length)` on a GetUserResponse.
 */
const allocate: (length: number) => Uint8Array =
  typeof Buffer === "function" ? (length) => Buffer.allocUnsafe(length) : (length) => new Uint8Array(length);

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
