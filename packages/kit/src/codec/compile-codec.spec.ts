import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  CodecChildSchema,
  CodecColor,
  CodecGetUserResponseSchema,
  CodecListUsersResponseSchema,
  CodecListsSchema,
  CodecLongStringsSchema,
  CodecMapsSchema,
  CodecNodeSchema,
  CodecOneofsSchema,
  CodecOptionalsSchema,
  CodecScalarsSchema,
  CodecUserSchema,
  CodecWellKnownSchema,
} from "../gen-test/trellis/kittest/v1/codec_test_pb.js";
import type { CodecNode } from "../gen-test/trellis/kittest/v1/codec_test_pb.js";
import { compileCodec, createCodecCache } from "./index.js";
import { createRandom, randomMessage } from "./random-message.js";

const SCHEMAS: readonly DescMessage[] = [
  CodecScalarsSchema,
  CodecOptionalsSchema,
  CodecListsSchema,
  CodecMapsSchema,
  CodecOneofsSchema,
  CodecLongStringsSchema,
  CodecNodeSchema,
  CodecWellKnownSchema,
  CodecChildSchema,
  CodecUserSchema,
  CodecGetUserResponseSchema,
  CodecListUsersResponseSchema,
  TimestampSchema,
  ValueSchema,
];

const MESSAGES_PER_TYPE = 300;
const cache = createCodecCache();

/** The codec's output (a Buffer on Node) as a plain Uint8Array, for deepStrictEqual with toBinary's. */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** Checks both directions against protobuf-es for one message. */
function assertSameAsProtobufEs(schema: DescMessage, message: Message, useEquals: boolean): void {
  const codec = compileCodec(schema, cache);
  const bytes = toBinary(schema, message);
  const expected = fromBinary(schema, bytes);

  const decoded = codec.decode(bytes);
  if (useEquals) assert.ok(equals(schema, decoded, expected), "decode: equals()");
  assert.deepStrictEqual(decoded, expected, "decode: deepStrictEqual");
  assert.deepStrictEqual(toBinary(schema, decoded), toBinary(schema, expected), "decode: toBinary");

  const encoded = codec.encode(message);
  assert.deepStrictEqual(plain(encoded), bytes, "encode: same bytes as toBinary");
  const reparsed = fromBinary(schema, plain(encoded));
  if (useEquals) assert.ok(equals(schema, reparsed, expected), "encode: equals()");
  assert.deepStrictEqual(reparsed, expected, "encode: fromBinary deepStrictEqual");
  assert.deepStrictEqual(plain(codec.encode(decoded)), bytes, "re-encode of decoded");
}

function forEachRandom(seed: number, nan: boolean, check: (schema: DescMessage, message: Message) => void): void {
  for (const [i, schema] of SCHEMAS.entries()) {
    const rnd = createRandom(seed + i);
    for (let n = 0; n < MESSAGES_PER_TYPE; n++) {
      const message = randomMessage(rnd, schema, { nan });
      try {
        check(schema, message);
      } catch (error) {
        // Name the failing case so that it can be replayed.
        throw new Error(`${schema.typeName} #${n} (seed ${seed + i}): ${(error as Error).message}`, { cause: error });
      }
    }
  }
}

/** Encodes fields by hand, for inputs protobuf-es would not produce. */
function bytesOf(build: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  build(w);
  return w.finish();
}

describe("compileCodec property test", () => {
  it("decodes and encodes random messages of every test type exactly like protobuf-es", () => {
    forEachRandom(20_261_121, false, (schema, message) => assertSameAsProtobufEs(schema, message, true));
  });

  it("agrees on NaN doubles and floats (compared without equals(), which says NaN != NaN)", () => {
    forEachRandom(7, true, (schema, message) => assertSameAsProtobufEs(schema, message, false));
  });

  it("decodes every prefix of an encoding like fromBinary, or fails where fromBinary fails, naming the type", () => {
    const rnd = createRandom(42);
    const schemas: DescMessage[] = [CodecScalarsSchema, CodecListsSchema, CodecMapsSchema, CodecNodeSchema, CodecWellKnownSchema];
    for (const schema of schemas) {
      const codec = compileCodec(schema, cache);
      for (let n = 0; n < 10; n++) {
        const bytes = toBinary(schema, randomMessage(rnd, schema, { nan: false, maxDepth: 2 }));
        for (let len = 0; len < bytes.length; len++) {
          const prefix = bytes.subarray(0, len);
          let decoded: Message;
          try {
            decoded = codec.decode(prefix);
          } catch (error) {
            // A prefix the codec refuses must be one protobuf-es refuses too: a truncated
            // encoding, not a valid one the codec cannot read.
            assert.throws(
              () => fromBinary(schema, prefix),
              `${schema.typeName}: protobuf-es reads ${len} of ${bytes.length} bytes, the codec threw ${String(error)}`,
            );
            assert.match((error as Error).message, new RegExp(`^cannot decode ${schema.typeName.replaceAll(".", "\\.")} from binary: `));
            continue;
          }
          assert.deepStrictEqual(decoded, fromBinary(schema, prefix));
        }
      }
    }
  });
});

describe("compileCodec decoding", () => {
  const codec = compileCodec(CodecScalarsSchema);

  it("returns messages shaped like create() for empty input, nested ones too", () => {
    assert.deepStrictEqual(codec.decode(new Uint8Array(0)), create(CodecScalarsSchema));
    const nested = codec.decode(toBinary(CodecScalarsSchema, create(CodecScalarsSchema, { fMessage: {} })));
    assert.deepStrictEqual(nested.fMessage, create(CodecChildSchema));
    assert.equal(nested.fMessage?.$typeName, "trellis.kittest.v1.CodecChild");
  });

  it("throws on malformed input, naming the message type", () => {
    const cases: Record<string, number[]> = {
      "truncated varint": [0x18, 0x80],
      "truncated string": [0x72, 0x05, 0x61],
      "length beyond the input": [0x72, 0xff, 0xff, 0xff, 0xff, 0x0f],
      "truncated fixed64": [0x51, 1, 2, 3],
      "wrong wire type for an int32": [0x1a, 0x00],
      "wrong wire type for a string": [0x70, 0x01],
      "wrong wire type for a message": [0x88, 0x01, 0x00],
      "invalid varint": [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      "field number 0": [0x00, 0x00],
      "wire type 7": [0x0f],
      "unmatched end group": [0xfc, 0x01],
      "tag over uint32": [0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      "nested message overruns its length": [0x8a, 0x01, 0x02, 0x0a, 0x05, 0x61, 0x62],
      "invalid UTF-8": [0x72, 0x01, 0xff],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      assert.throws(
        () => codec.decode(new Uint8Array(bytes)),
        (error: Error) => error.message.includes("trellis.kittest.v1.CodecScalars"),
        name,
      );
    }
  });

  it("enforces protobuf-es' recursion limit of 100", () => {
    let node: CodecNode = create(CodecNodeSchema, { name: "leaf" });
    for (let i = 1; i < 100; i++) node = create(CodecNodeSchema, { parent: node });
    const nodes = compileCodec(CodecNodeSchema);
    const ok = toBinary(CodecNodeSchema, node);
    assert.deepStrictEqual(nodes.decode(ok), fromBinary(CodecNodeSchema, ok));
    const tooDeep = toBinary(CodecNodeSchema, create(CodecNodeSchema, { parent: node }));
    assert.throws(() => fromBinary(CodecNodeSchema, tooDeep), /recursion/);
    assert.throws(() => nodes.decode(tooDeep), /recursion depth.*CodecNode/);
  });

  it("decodes repeated numbers written unpacked, packed, or both", () => {
    const lists = compileCodec(CodecListsSchema);
    const bytes = bytesOf((w) => {
      w.tag(3, WireType.Varint).int32(-1).tag(3, WireType.Varint).int32(7); // f_int32, unpacked
      w.tag(3, WireType.LengthDelimited).fork().int32(8).int32(9).join(); // then packed
      w.tag(1, WireType.Bit64).double(1.5).tag(1, WireType.Bit64).double(-2); // f_double
      w.tag(4, WireType.Varint).int64(-5n); // f_int64
      w.tag(16, WireType.Varint).int32(CodecColor.BLUE); // f_enum
      w.tag(13, WireType.Varint).bool(true); // f_bool
      w.tag(9, WireType.Bit32).fixed32(4294967295); // f_fixed32
      w.tag(18, WireType.LengthDelimited).fork().int32(1).int32(2).join(); // unpacked_int32, sent packed
    });
    const decoded = lists.decode(bytes);
    assert.deepStrictEqual(decoded, fromBinary(CodecListsSchema, bytes));
    assert.deepStrictEqual(decoded.fInt32, [-1, 7, 8, 9]);
    assert.deepStrictEqual(decoded.fDouble, [1.5, -2]);
    assert.deepStrictEqual(decoded.fInt64, [-5n]);
    assert.deepStrictEqual(decoded.fEnum, [CodecColor.BLUE]);
    assert.deepStrictEqual(decoded.fBool, [true]);
    assert.deepStrictEqual(decoded.fFixed32, [4294967295]);
    assert.deepStrictEqual(decoded.unpackedInt32, [1, 2]);
  });

  it("skips unknown fields of every wire type, where protobuf-es keeps them in $unknown", () => {
    const bytes = bytesOf((w) => {
      w.tag(14, WireType.LengthDelimited).string("kept");
      w.tag(200, WireType.Varint).uint64(2n ** 64n - 1n);
      w.tag(201, WireType.Bit64).fixed64(1n);
      w.tag(202, WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3]));
      w.tag(203, WireType.StartGroup).tag(1, WireType.Varint).int32(1).tag(203, WireType.EndGroup);
      w.tag(204, WireType.Bit32).fixed32(1);
      w.tag(3, WireType.Varint).int32(42);
    });
    const decoded = codec.decode(bytes);
    const expected = fromBinary(CodecScalarsSchema, bytes);
    assert.equal(expected.$unknown?.length, 5);
    assert.equal(decoded.$unknown, undefined);
    assert.equal(decoded.fString, "kept");
    assert.equal(decoded.fInt32, 42);
    const { $unknown: _dropped, ...rest } = expected;
    assert.deepStrictEqual(decoded, rest);
    // Encoding a message that carries $unknown writes them back, as toBinary does.
    assert.deepStrictEqual(plain(codec.encode(expected)), toBinary(CodecScalarsSchema, expected));
  });

  it("merges a message field that occurs twice, and the last scalar wins", () => {
    const bytes = bytesOf((w) => {
      w.tag(17, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string("a").join();
      w.tag(3, WireType.Varint).int32(1);
      w.tag(17, WireType.LengthDelimited).fork().tag(2, WireType.Varint).int32(5).join();
      w.tag(3, WireType.Varint).int32(2);
    });
    const decoded = codec.decode(bytes);
    assert.deepStrictEqual(decoded, fromBinary(CodecScalarsSchema, bytes));
    assert.equal(decoded.fMessage?.name, "a");
    assert.equal(decoded.fMessage?.count, 5);
    assert.equal(decoded.fInt32, 2);
  });
});

describe("compileCodec encoding", () => {
  it("treats undefined fields as unset and accepts objects without $typeName", () => {
    const codec = compileCodec(CodecScalarsSchema);
    const partial = { fString: "x", fInt64: undefined, fMessage: { name: "y" } } as unknown as Parameters<typeof codec.encode>[0];
    assert.deepStrictEqual(
      plain(codec.encode(partial)),
      toBinary(CodecScalarsSchema, create(CodecScalarsSchema, { fString: "x", fMessage: { name: "y" } })),
    );
  });

  it("throws on values protobuf-es rejects, naming the type and field", () => {
    const codec = compileCodec(CodecScalarsSchema);
    for (const init of [{ fInt32: 1.5 }, { fUint32: -1 }, { fUint64: -1n }, { fInt64: 2n ** 63n }, { fFloat: 1e39 }]) {
      const message = create(CodecScalarsSchema, init);
      assert.throws(() => toBinary(CodecScalarsSchema, message));
      assert.throws(() => codec.encode(message), /CodecScalars.*f_/, JSON.stringify(Object.keys(init)));
    }
  });

  it("writes -0 but not +0 for an implicit double, like protobuf-es", () => {
    const codec = compileCodec(CodecScalarsSchema);
    const negative = create(CodecScalarsSchema, { fDouble: -0 });
    assert.deepStrictEqual(plain(codec.encode(negative)), toBinary(CodecScalarsSchema, negative));
    assert.equal(codec.encode(create(CodecScalarsSchema, { fDouble: 0 })).length, 0);
  });
});

describe("compileCodec compilation", () => {
  it("compiles recursive types once per cache and returns the cached codec", () => {
    const cache = createCodecCache();
    const codec = compileCodec(CodecNodeSchema, cache);
    assert.equal(compileCodec(CodecNodeSchema, cache), codec);
    assert.deepStrictEqual([...cache.keys()], ["trellis.kittest.v1.CodecNode"]);
    compileCodec(CodecGetUserResponseSchema, cache);
    assert.ok(cache.has("google.protobuf.Timestamp"));
    assert.notEqual(compileCodec(CodecNodeSchema), codec, "a fresh cache compiles anew");
  });

  it("rejects proto2 types at compile time and leaves the cache clean", () => {
    const cache = createCodecCache();
    assert.throws(() => compileCodec(FileDescriptorProtoSchema, cache), /google\.protobuf\..*not supported/);
    assert.equal(cache.size, 0);
  });
});
