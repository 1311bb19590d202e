// Micro-benchmark, not a test: `taskset -c 1 node packages/kit/dist/codec/compile-codec.bench.js`.
// Prints ns/op (median of 5 timed runs, min–max in brackets) for encoding and decoding
// a GetUserResponse-like message (one user: uuid, email, name, 2 roles, etag, two
// Timestamps) and a ListUsersResponse-like page of 100 users, with protobuf-es'
// toBinary/fromBinary and with the compiled codec. `QUICK=1` runs a short smoke pass.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { CodecGetUserResponseSchema, CodecListUsersResponseSchema, CodecRole } from "../gen-test/trellis/kittest/v1/codec_test_pb.js";
import type { CodecUser } from "../gen-test/trellis/kittest/v1/codec_test_pb.js";
import { compileCodec, createCodecCache } from "./index.js";

const QUICK = process.env["QUICK"] === "1";
const RUNS = 5;

function user(i: number): Omit<CodecUser, "$typeName"> {
  const hex = i.toString(16).padStart(12, "0");
  return {
    id: `1b4e28ba-2fa1-11d2-883f-${hex}`,
    email: `user${i}@example.com`,
    displayName: `Ada Lovelace ${i}`,
    roles: [CodecRole.MEMBER, CodecRole.ADMIN],
    etag: `W/"${(1_700_000_000_123 + i).toString(36)}"`,
    createTime: { $typeName: "google.protobuf.Timestamp", seconds: 1_700_000_000n + BigInt(i), nanos: 123_000_000 },
    updateTime: { $typeName: "google.protobuf.Timestamp", seconds: 1_700_086_400n + BigInt(i), nanos: 456_000_000 },
  };
}

/** Runs `fn` `iterations` times per run; returns [median, min, max] ns/op. */
function time(iterations: number, fn: () => unknown): [number, number, number] {
  let sink = 0;
  for (let i = 0; i < (QUICK ? 1000 : 50_000); i++) sink += fn() === undefined ? 1 : 0; // warm-up
  const results: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += fn() === undefined ? 1 : 0;
    results.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  if (sink !== 0) throw new Error("unexpected undefined");
  results.sort((a, b) => a - b);
  return [results[2] as number, results[0] as number, results[RUNS - 1] as number];
}

const format = ([median, min, max]: [number, number, number]): string => {
  const f = (ns: number): string => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);
  return `${f(median)} (${f(min)}–${f(max)})`;
};

function bench(label: string, schema: DescMessage, message: Message, iterations: number): void {
  const codec = compileCodec(schema, createCodecCache());
  const bytes = toBinary(schema, message);
  if (Buffer.compare(Buffer.from(codec.encode(message)), Buffer.from(bytes)) !== 0) {
    throw new Error(`${label}: the codec's bytes differ from toBinary`);
  }
  const n = QUICK ? Math.ceil(iterations / 100) : iterations;
  const rows: [string, string, string][] = [
    [
      "protobuf-es toBinary / fromBinary",
      format(time(n, () => toBinary(schema, message))),
      format(time(n, () => fromBinary(schema, bytes))),
    ],
    ["compiled codec", format(time(n, () => codec.encode(message))), format(time(n, () => codec.decode(bytes)))],
  ];
  for (const [who, encode, decode] of rows) {
    console.log(`| ${who} | ${label} | ${bytes.length} | ${encode} | ${decode} |`);
  }
}

console.log(`Node ${process.version}; median of ${RUNS} runs (min–max)`);
console.log("| Codec | Message | Bytes | Encode | Decode |");
console.log("|---|---|---:|---:|---:|");
bench("GetUserResponse (1 user)", CodecGetUserResponseSchema, create(CodecGetUserResponseSchema, { user: user(1) }), 200_000);
bench(
  "ListUsersResponse (100 users)",
  CodecListUsersResponseSchema,
  create(CodecListUsersResponseSchema, {
    users: Array.from({ length: 100 }, (_, i) => user(i)),
    nextPageToken: "eyJvZmZzZXQiOjEwMH0",
  }),
  5_000,
);
