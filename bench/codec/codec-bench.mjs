// Per-message cost of protobuf codec candidates for the UserService messages.
//
//   cd /work/main && npx tsc -b             # only if services/user/dist is missing
//   taskset -c 1 node bench/codec/codec-bench.mjs
//
// Optional third contender (ts-proto), generated outside the repo:
//   TS_PROTO_JS=/tmp/tsproto/js/trellis/user/v1/user.js taskset -c 1 node bench/codec/codec-bench.mjs
// (see README.md for how that file was produced). Without TS_PROTO_JS, ts-proto is skipped.
//
// Writes bench/codec/results.json and prints a Markdown table.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import os from "node:os";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
// @bufbuild/protobuf and @grpc/proto-loader are hoisted in the root node_modules.
const require = createRequire(join(repo, "package.json"));

const { create, toBinary, fromBinary } = await import(pathToFileURL(require.resolve("@bufbuild/protobuf")).href);
const { TimestampSchema } = await import(pathToFileURL(require.resolve("@bufbuild/protobuf/wkt")).href);
const pb = await import(join(repo, "packages/api/dist/gen/trellis/user/v1/user_pb.js"));
const protoLoader = require("@grpc/proto-loader");

const QUICK = process.env.QUICK === "1"; // smoke run: tiny iteration counts
const WARMUP = QUICK ? 2_000 : 50_000;
const RUNS = 5;
const N_SMALL = QUICK ? 5_000 : 200_000;
const N_LIST = QUICK ? 200 : 5_000;
const LIST_LEN = 100;
const CALL_US = [45, 50]; // anchor: grpc-js + proto-loader unary call on one core, ~20-22k calls/s

// ---------------------------------------------------------------- test data
// One "typical" user. Every contender is fed the same logical values.
function userFields(i) {
  const hex = ((i * 2654435761) >>> 0).toString(16).padStart(8, "0");
  return {
    id: `${hex}-7c1e-4b8a-9f3d-5e2a1c9b0d4f`, // 36-char uuid
    email: `ada${String(i).padStart(3, "0")}@example.com`, // 18 chars
    displayName: "Ada Lovelace",
    roles: [1, 2], // ROLE_MEMBER, ROLE_MODERATOR
    etag: `${hex}9a4f2c1d`, // 16 chars
    createSec: 1_717_000_000 + i,
    createNanos: 123_000_000,
    updateSec: 1_733_000_000 + i,
    updateNanos: 987_000_000,
  };
}
const ROLE_NAMES = ["ROLE_UNSPECIFIED", "ROLE_MEMBER", "ROLE_MODERATOR", "ROLE_ADMIN"];
const REQUEST_ID = userFields(0).id;
// A mid-listing page. (With an empty token, protobufjs - hence proto-loader - writes the
// empty string to the wire, 2 bytes more than proto3 implicit presence requires, which
// protobuf-es and ts-proto omit; the size assertion below would then fail.)
const PAGE_TOKEN = "eyJhZnRlciI6IjAwMDk5In0";

// ---------------------------------------------------------------- contenders
// Each contender: { name, note, msgs: { key: { encode(obj) -> Uint8Array/Buffer, decode(Buffer) -> obj, value } } }

// a) protobuf-es v2, exactly as packages/kit/src/server/bind-service.ts uses it
//    (encode = toBinary + zero-copy Buffer view; decode = fromBinary of the Buffer grpc-js hands over).
function esUser(f) {
  return create(pb.UserSchema, {
    id: f.id,
    email: f.email,
    displayName: f.displayName,
    roles: f.roles,
    etag: f.etag,
    createTime: create(TimestampSchema, { seconds: BigInt(f.createSec), nanos: f.createNanos }),
    updateTime: create(TimestampSchema, { seconds: BigInt(f.updateSec), nanos: f.updateNanos }),
  });
}
function esCodec(schema) {
  return {
    encode(m) {
      const bytes = toBinary(schema, m);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    decode(buf) {
      return fromBinary(schema, buf);
    },
  };
}
const protobufEs = {
  name: "protobuf-es v2",
  note: "@bufbuild/protobuf toBinary/fromBinary, generated schemas (what the kit does)",
  msgs: {
    getUserRequest: { ...esCodec(pb.GetUserRequestSchema), value: create(pb.GetUserRequestSchema, { id: REQUEST_ID }) },
    getUserResponse: { ...esCodec(pb.GetUserResponseSchema), value: create(pb.GetUserResponseSchema, { user: esUser(userFields(0)) }) },
    listUsersResponse: {
      ...esCodec(pb.ListUsersResponseSchema),
      value: create(pb.ListUsersResponseSchema, {
        users: Array.from({ length: LIST_LEN }, (_, i) => esUser(userFields(i))),
        nextPageToken: PAGE_TOKEN,
      }),
    },
  },
};

// b) @grpc/proto-loader (protobufjs reflection): the serialize/deserialize pair a
//    proto-loader grpc-js server uses, with the options of the grpc-node examples.
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const packageDefinition = protoLoader.loadSync("trellis/user/v1/user.proto", {
  ...LOADER_OPTIONS,
  includeDirs: [join(repo, "packages/api/proto"), join(repo, "packages/kit/proto")],
});
function plUser(f) {
  return {
    id: f.id,
    email: f.email,
    display_name: f.displayName,
    roles: f.roles.map((r) => ROLE_NAMES[r]),
    etag: f.etag,
    create_time: { seconds: String(f.createSec), nanos: f.createNanos },
    update_time: { seconds: String(f.updateSec), nanos: f.updateNanos },
  };
}
function plCodec(typeName) {
  const def = packageDefinition[typeName];
  return { encode: def.serialize, decode: def.deserialize };
}
const getUserRequestPlain = { id: REQUEST_ID };
const getUserResponsePlain = { user: plUser(userFields(0)) };
const listUsersResponsePlain = { users: Array.from({ length: LIST_LEN }, (_, i) => plUser(userFields(i))), next_page_token: PAGE_TOKEN };
const protoLoaderContender = {
  name: "proto-loader (protobufjs)",
  note: "@grpc/proto-loader loadSync serialize = encode(fromObject(obj)), deserialize = toObject(decode(buf), opts)",
  msgs: {
    getUserRequest: { ...plCodec("trellis.user.v1.GetUserRequest"), value: getUserRequestPlain },
    getUserResponse: { ...plCodec("trellis.user.v1.GetUserResponse"), value: getUserResponsePlain },
    listUsersResponse: { ...plCodec("trellis.user.v1.ListUsersResponse"), value: listUsersResponsePlain },
  },
};

// b') the same protobufjs reflection types without proto-loader's fromObject/toObject
//     conversion (Type.encode(message instance) / Type.decode). Not what a proto-loader
//     server runs; shown to separate protobufjs' wire cost from the object conversion.
const protobuf = require("protobufjs");
const root = new protobuf.Root();
const includeDirs = [join(repo, "packages/api/proto"), join(repo, "packages/kit/proto")];
root.resolvePath = (origin, target) => {
  for (const dir of includeDirs) {
    const p = join(dir, target);
    if (existsSync(p)) return p;
  }
  return protobuf.util.path.resolve(origin, target); // google/protobuf/*: protobufjs' bundled common types
};
root.loadSync("trellis/user/v1/user.proto", { keepCase: true });
root.resolveAll();
function pjCodec(typeName, plain) {
  const T = root.lookupType(typeName);
  return {
    encode: (m) => T.encode(m).finish(),
    decode: (buf) => T.decode(buf),
    value: T.fromObject(plain),
  };
}
const protobufjsRaw = {
  name: "protobufjs reflection, no object conversion",
  note: "Type.encode(instance).finish() / Type.decode(buf) - lower bound for protobufjs; not the proto-loader path",
  msgs: {
    getUserRequest: pjCodec("trellis.user.v1.GetUserRequest", getUserRequestPlain),
    getUserResponse: pjCodec("trellis.user.v1.GetUserResponse", getUserResponsePlain),
    listUsersResponse: pjCodec("trellis.user.v1.ListUsersResponse", listUsersResponsePlain),
  },
};

// c) ts-proto (optional; generated in /tmp, see README). Defaults: Timestamp <-> Date, int64 as number.
const contenders = [protobufEs, protoLoaderContender, protobufjsRaw];
if (process.env.TS_PROTO_JS) {
  const tp = await import(pathToFileURL(process.env.TS_PROTO_JS).href);
  const tpUser = (f) => ({
    id: f.id,
    email: f.email,
    displayName: f.displayName,
    roles: f.roles,
    etag: f.etag,
    createTime: new Date(f.createSec * 1000 + f.createNanos / 1e6),
    updateTime: new Date(f.updateSec * 1000 + f.updateNanos / 1e6),
  });
  const tpCodec = (T) => ({ encode: (m) => T.encode(m).finish(), decode: (buf) => T.decode(buf) });
  contenders.push({
    name: "ts-proto",
    note: `ts-proto generated code (BinaryReader/BinaryWriter from @bufbuild/protobuf/wire), useDate=true`,
    msgs: {
      getUserRequest: { ...tpCodec(tp.GetUserRequest), value: { id: REQUEST_ID } },
      getUserResponse: { ...tpCodec(tp.GetUserResponse), value: { user: tpUser(userFields(0)) } },
      listUsersResponse: {
        ...tpCodec(tp.ListUsersResponse),
        value: { users: Array.from({ length: LIST_LEN }, (_, i) => tpUser(userFields(i))), nextPageToken: PAGE_TOKEN },
      },
    },
  });
}

// ONLY=<substring> times just the matching contenders (the size/identity checks still use all).
const timed = process.env.ONLY ? contenders.filter((c) => c.name.includes(process.env.ONLY)) : contenders;

// ---------------------------------------------------------------- checks
// Timestamps use whole milliseconds so ts-proto's Date mapping is lossless and
// all contenders can produce byte-identical output.
const MESSAGES = [
  { key: "getUserRequest", label: "GetUserRequest", n: N_SMALL },
  { key: "getUserResponse", label: "GetUserResponse (1 user)", n: N_SMALL },
  { key: "listUsersResponse", label: `ListUsersResponse (${LIST_LEN} users)`, n: N_LIST },
];
const sizes = {};
const identical = {};
for (const { key } of MESSAGES) {
  const encoded = contenders.map((c) => Buffer.from(c.msgs[key].encode(c.msgs[key].value)));
  const lens = encoded.map((b) => b.length);
  if (!lens.every((l) => l === lens[0])) {
    throw new Error(`${key}: encoded sizes differ: ${contenders.map((c, i) => `${c.name}=${lens[i]}`).join(", ")}`);
  }
  sizes[key] = lens[0];
  identical[key] = Object.fromEntries(contenders.map((c, i) => [c.name, encoded[i].equals(encoded[0])]));
  // each contender must decode the reference bytes back to something equivalent
  for (const c of contenders) {
    const d = c.msgs[key].decode(encoded[0]);
    const u = d.user ?? d.users?.[0];
    const id = key === "getUserRequest" ? d.id : u.id;
    if (id !== (key === "getUserRequest" ? REQUEST_ID : userFields(0).id)) throw new Error(`${c.name} ${key}: decode mismatch`);
    if (u && (u.roles.length !== 2 || u.etag !== userFields(0).etag)) throw new Error(`${c.name} ${key}: decode mismatch`);
  }
}

// ---------------------------------------------------------------- timing
let sink = 0;
function timeLoop(fn, arg, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = fn(arg);
    sink ^= r === undefined ? 1 : 0;
  }
  return Number(process.hrtime.bigint() - t0) / n;
}
function measure(fn, arg, n) {
  timeLoop(fn, arg, WARMUP);
  const runs = [];
  for (let r = 0; r < RUNS; r++) runs.push(timeLoop(fn, arg, n));
  const sorted = [...runs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(RUNS / 2)], min: sorted[0], max: sorted[RUNS - 1], runs };
}

const loadAvgStart = os.loadavg();
const results = [];
for (const c of timed) {
  for (const { key, label, n } of MESSAGES) {
    const m = c.msgs[key];
    const bytes = Buffer.from(m.encode(m.value)); // grpc-js hands the handler a Buffer
    const enc = measure(m.encode, m.value, n);
    const dec = measure(m.decode, bytes, n);
    results.push({ contender: c.name, message: label, key, bytes: bytes.length, iterations: n, encodeNs: enc, decodeNs: dec });
    process.stderr.write(`${c.name} / ${label}: enc ${enc.median.toFixed(0)} ns, dec ${dec.median.toFixed(0)} ns\n`);
  }
}

// ---------------------------------------------------------------- report
const cpuModel = (readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m) ?? [])[1] ?? os.cpus()[0]?.model;
const fmt = (ns) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`);
const rng = (s) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

const lines = [];
lines.push(`| Contender | Message | Bytes | Encode, median (min–max) | Decode, median (min–max) |`);
lines.push(`|---|---|---:|---:|---:|`);
for (const r of results) lines.push(`| ${r.contender} | ${r.message} | ${r.bytes} | ${rng(r.encodeNs)} | ${rng(r.decodeNs)} |`);

const perCall = timed.map((c) => {
  const req = results.find((r) => r.contender === c.name && r.key === "getUserRequest");
  const res = results.find((r) => r.contender === c.name && r.key === "getUserResponse");
  const ns = req.decodeNs.median + res.encodeNs.median;
  return {
    contender: c.name,
    codecNsPerGetUserCall: ns,
    fractionOfCall: CALL_US.map((us) => ns / (us * 1000)),
  };
});
lines.push("");
lines.push(
  `| Contender | GetUser codec work per call (decode GetUserRequest + encode GetUserResponse) | Share of a ${CALL_US[0]}–${CALL_US[1]} µs unary call |`,
);
lines.push(`|---|---:|---:|`);
for (const p of perCall) {
  const [hi, lo] = p.fractionOfCall.map((f) => (f * 100).toFixed(1));
  lines.push(`| ${p.contender} | ${fmt(p.codecNsPerGetUserCall)} | ${lo}–${hi} % |`);
}
const table = lines.join("\n");
console.log(table);
if (sink === 42) console.log(""); // keep sink observable

function pkgVersion(name) {
  return JSON.parse(readFileSync(join(repo, "node_modules", name, "package.json"), "utf8")).version;
}
const out = {
  date: new Date().toISOString(),
  node: process.version,
  v8: process.versions.v8,
  cpuModel,
  cpus: os.cpus().length,
  pinned: "run under taskset -c 1 (see README)",
  quick: QUICK,
  // 1-minute load average at start/end: the machine is shared, other work on CPU 1 skews results
  loadAvg1m: { start: loadAvgStart[0], end: os.loadavg()[0] },
  warmupIterations: WARMUP,
  runs: RUNS,
  packages: {
    "@bufbuild/protobuf": pkgVersion("@bufbuild/protobuf"),
    protobufjs: pkgVersion("protobufjs"),
    "@grpc/proto-loader": pkgVersion("@grpc/proto-loader"),
  },
  protoLoaderOptions: { keepCase: true, longs: "String", enums: "String", defaults: true, oneofs: true },
  contenders: contenders.map((c) => ({ name: c.name, note: c.note })),
  encodedBytes: sizes,
  bytesIdenticalToProtobufEs: identical,
  callAnchorMicros: CALL_US,
  results,
  perCall,
};
if (!QUICK && !process.env.ONLY) writeFileSync(join(here, "results.json"), JSON.stringify(out, null, 2) + "\n");
