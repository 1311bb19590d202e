import fc from "fast-check";
import { encodeHeaderBlock, FrameType } from "@trellis/kit/testing";
import { lengthPrefixed } from "../wire/grpc-framing.js";

/**
 * Random HTTP/2 frames for family (d), written after a valid client preface:
 * frames of every type (and undefined ones) with random flags, stream ids,
 * payloads and wrong length fields, mixed with well-formed frames carrying
 * hostile values (SETTINGS, WINDOW_UPDATE, PRIORITY, PING, RST_STREAM,
 * GOAWAY) and with HEADERS/CONTINUATION/DATA sequences of read-only calls
 * broken in every order. No frame here can write a row.
 */

/** One frame as written: the length field is the payload's length plus `lengthDelta` (modulo 2^24). */
export interface FrameSpec {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
  readonly lengthDelta: number;
}

const READ_ONLY_PATHS = ["/trellis.user.v1.UserService/GetUser", "/trellis.user.v1.UserService/ListUsers", "/trellis.chat.v1.ChatService/History", "/grpc.health.v1.Health/Check"] as const;

const streamId = fc.oneof(
  { arbitrary: fc.constantFrom(1, 3, 5, 7), weight: 6 },
  { arbitrary: fc.constantFrom(0, 2, 4, 2_147_483_647, 2_147_483_648 + 1), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }), weight: 1 },
);

function frame(type: fc.Arbitrary<number>, flags: fc.Arbitrary<number>, payload: fc.Arbitrary<Uint8Array>, id: fc.Arbitrary<number> = streamId): fc.Arbitrary<FrameSpec> {
  return fc.record({
    type,
    flags,
    streamId: id,
    payload,
    lengthDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 19 }, { arbitrary: fc.integer({ min: -8, max: 8 }), weight: 1 }),
  });
}

const u32 = (value: number): Buffer => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
};

const settingsPayload = fc
  .array(
    fc.tuple(
      fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 0xffff })),
      fc.oneof(fc.constantFrom(0, 1, 16_383, 16_384, 16_777_215, 16_777_216, 2_147_483_647, 2_147_483_648, 4_294_967_295), fc.nat()),
    ),
    { maxLength: 6 },
  )
  .map((entries) =>
    Buffer.concat(
      entries.map(([id, value]) => {
        const out = Buffer.alloc(6);
        out.writeUInt16BE(id);
        out.writeUInt32BE(value >>> 0, 2);
        return out;
      }),
    ),
  );

const headerBlock = fc
  .record({
    path: fc.constantFrom(...READ_ONLY_PATHS),
    extra: fc.array(fc.tuple(fc.stringMatching(/^[a-zA-Z:][a-zA-Z0-9-]{0,12}$/), fc.string({ unit: "binary-ascii", maxLength: 20 })), { maxLength: 3 }),
    scheme: fc.constantFrom("http", "https", ""),
  })
  .map(({ path, extra, scheme }) =>
    encodeHeaderBlock([
      [":method", "POST"],
      [":scheme", scheme],
      [":path", path],
      [":authority", "fuzz"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ...extra,
    ]),
  );

const grpcBody = fc.uint8Array({ maxLength: 48 }).map((bytes) => lengthPrefixed(Buffer.concat([Buffer.from([0x0a, 0x24]), Buffer.from("6f0c1e2a-0000-4000-8000-000000000000"), bytes])));

const flags = fc.oneof({ arbitrary: fc.constantFrom(0, 0x1, 0x4, 0x5, 0x8, 0x20, 0x25), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 });

/** One frame, random or structured. */
export const frameArbitrary: fc.Arbitrary<FrameSpec> = fc.oneof(
  { arbitrary: frame(fc.integer({ min: 0, max: 9 }), flags, fc.uint8Array({ maxLength: 32 })), weight: 4 },
  { arbitrary: frame(fc.integer({ min: 10, max: 255 }), flags, fc.uint8Array({ maxLength: 32 })), weight: 1 },
  { arbitrary: frame(fc.integer({ min: 0, max: 9 }), flags, fc.constantFrom(16_384, 16_385, 65_535).map((n) => new Uint8Array(n))), weight: 1 },
  { arbitrary: frame(fc.constant(FrameType.SETTINGS), fc.constantFrom(0, 0, 0x1), settingsPayload, fc.constantFrom(0, 0, 1)), weight: 3 },
  { arbitrary: frame(fc.constant(FrameType.WINDOW_UPDATE), fc.constant(0), fc.constantFrom(0, 1, 65_535, 2_147_483_647, 2_147_483_648, 4_294_967_295).map(u32)), weight: 2 },
  { arbitrary: frame(fc.constant(FrameType.PING), fc.constantFrom(0, 0x1), fc.uint8Array({ minLength: 0, maxLength: 9 }), fc.constantFrom(0, 0, 1)), weight: 2 },
  { arbitrary: frame(fc.constant(FrameType.RST_STREAM), fc.constant(0), fc.oneof(fc.constantFrom(0, 1, 2, 7, 8, 11, 13, 0xffffffff), fc.nat()).map(u32)), weight: 2 },
  {
    arbitrary: frame(
      fc.constant(FrameType.PRIORITY),
      fc.constant(0),
      fc.tuple(fc.oneof(fc.constantFrom(0, 1, 3), fc.nat()), fc.nat({ max: 255 })).map(([dep, weight]) => Buffer.concat([u32(dep), Buffer.from([weight])])),
    ),
    weight: 1,
  },
  {
    arbitrary: frame(
      fc.constant(FrameType.GOAWAY),
      fc.constant(0),
      fc.tuple(fc.nat(), fc.nat({ max: 13 }), fc.uint8Array({ maxLength: 8 })).map(([last, code, debug]) => Buffer.concat([u32(last), u32(code), debug])),
      fc.constantFrom(0, 0, 1),
    ),
    weight: 1,
  },
  { arbitrary: frame(fc.constant(FrameType.HEADERS), fc.constantFrom(0x4, 0x5, 0x0, 0x1, 0x24, 0x2c), headerBlock), weight: 4 },
  { arbitrary: frame(fc.constant(FrameType.CONTINUATION), fc.constantFrom(0x0, 0x4), headerBlock), weight: 2 },
  { arbitrary: frame(fc.constant(FrameType.DATA), fc.constantFrom(0x0, 0x1, 0x8, 0x9), grpcBody), weight: 3 },
  { arbitrary: frame(fc.constant(FrameType.PUSH_PROMISE), fc.constantFrom(0x4), headerBlock.map((block) => Buffer.concat([u32(2), block]))), weight: 1 },
);

/** A connection's worth of frames after the preface. */
export function framesArbitrary(): fc.Arbitrary<FrameSpec[]> {
  return fc.oneof(
    { arbitrary: fc.array(frameArbitrary, { minLength: 1, maxLength: 8 }), weight: 9 },
    // A CONTINUATION flood without END_HEADERS (CVE-2024-27316 style), bounded.
    {
      arbitrary: fc.tuple(headerBlock, fc.integer({ min: 10, max: 400 })).map(([block, n]) => [
        { type: FrameType.HEADERS, flags: 0, streamId: 1, payload: block, lengthDelta: 0 },
        ...Array.from({ length: n }, () => ({ type: FrameType.CONTINUATION, flags: 0, streamId: 1, payload: new Uint8Array(16_000), lengthDelta: 0 })),
      ]),
      weight: 1,
    },
  );
}
