// Streaming load client on @grpc/grpc-js, run by the harness pinned to core 1:
//   node bench/lib/stream-client.mjs --mode watch --target 127.0.0.1:50051 --duration 10 --warmup 3
//   node bench/lib/stream-client.mjs --mode chat-pingpong --target 127.0.0.1:50061 ...
// Prints one JSON object on stdout.
//
// watch: WatchUsers{include_snapshot: true}, one stream after another. A stream counts as
//   done when the server ends it or at CHANGE_TYPE_SNAPSHOT_END (then it is cancelled); the
//   result is messages per second and the per-stream time percentiles.
// chat-pingpong: one ChatService/Chat stream; join the room as user 7, then post; each post
//   waits for its own echo before the next is sent. Round-trip percentiles and posts/s.
import * as grpc from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { setTimeout, clearTimeout } from "node:timers";

const { values: opt } = parseArgs({
  options: {
    mode: { type: "string" },
    target: { type: "string" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "0" },
    "user-id": { type: "string", default: "00000000-0000-4000-8000-000000000007" },
    room: { type: "string", default: "bench" },
  },
});
const duration = Number(opt.duration) * 1000;
const warmup = Number(opt.warmup) * 1000;
const raw = (b) => b;
const client = new grpc.Client(opt.target, grpc.credentials.createInsecure(), {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
});

function percentiles(us) {
  us.sort((a, b) => a - b);
  const p = (q) => us[Math.min(us.length - 1, Math.max(0, Math.ceil((q / 100) * us.length) - 1))] ?? null;
  const mean = us.length ? us.reduce((a, b) => a + b, 0) / us.length : null;
  return { p50: p(50), p90: p(90), p99: p(99), p999: p(99.9), meanUs: mean, samples: us.length };
}

const nowUs = () => Number(process.hrtime.bigint()) / 1000;

async function watchOnce(reqBytes) {
  return new Promise((resolve, reject) => {
    let messages = 0;
    let bytes = 0;
    let finished = false;
    const call = client.makeServerStreamRequest("/trellis.user.v1.UserService/WatchUsers", raw, raw, reqBytes);
    const done = (cancelled) => {
      if (finished) return;
      finished = true;
      if (cancelled) call.cancel();
      resolve({ messages, bytes });
    };
    call.on("data", (buf) => {
      messages += 1;
      bytes += buf.length + 5;
      // WatchUsersResponse.type is field 1 (varint), written first: 0x08 0x02 = SNAPSHOT_END.
      if (buf[0] === 0x08 && buf[1] === 2) done(true);
    });
    call.on("end", () => done(false));
    call.on("error", (e) => {
      if (finished || e.code === grpc.status.CANCELLED) return;
      finished = true;
      reject(new Error(`WatchUsers: ${e.code} ${e.details}`));
    });
  });
}

async function watch() {
  const pb = await import("@trellis/api/trellis/user/v1/user_pb.js");
  const req = Buffer.from(toBinary(pb.WatchUsersRequestSchema, create(pb.WatchUsersRequestSchema, { includeSnapshot: true })));
  const phase = async (ms) => {
    const t0 = nowUs();
    let messages = 0;
    let bytes = 0;
    let streams = 0;
    const per = [];
    while (nowUs() - t0 < ms * 1000 || streams === 0) {
      const s0 = nowUs();
      const r = await watchOnce(req);
      per.push(nowUs() - s0);
      messages += r.messages;
      bytes += r.bytes;
      streams += 1;
    }
    const seconds = (nowUs() - t0) / 1e6;
    return { streams, messages, seconds, per, bytes };
  };
  if (warmup > 0) await phase(warmup);
  const m = await phase(duration);
  return {
    calls: m.messages,
    streams: m.streams,
    messagesPerStream: m.messages / m.streams,
    callsPerSec: m.messages / m.seconds,
    streamsPerSec: m.streams / m.seconds,
    bytesPerCall: m.bytes / m.messages,
    seconds: m.seconds,
    ...percentiles(m.per),
  };
}

async function chatPingPong() {
  const pb = await import("@trellis/api/trellis/chat/v1/chat_pb.js");
  const call = client.makeBidiStreamRequest("/trellis.chat.v1.ChatService/Chat", raw, raw);
  const enc = (action) => Buffer.from(toBinary(pb.ChatRequestSchema, create(pb.ChatRequestSchema, { action })));
  let waiting = null;
  let failure = null;
  let bytes = 0;
  call.on("data", (buf) => {
    const res = fromBinary(pb.ChatResponseSchema, buf);
    const kind = res.event?.kind;
    if (kind?.case === "message" && waiting && kind.value.text === waiting.text) {
      bytes += buf.length + 5;
      const w = waiting;
      waiting = null;
      w.resolve();
    }
  });
  call.on("error", (e) => {
    failure = new Error(`Chat: ${e.code} ${e.details}`);
    waiting?.reject(failure);
  });
  call.write(enc({ case: "join", value: { room: opt.room, userId: opt["user-id"] } }));
  let seq = 0;
  const post = () =>
    new Promise((resolve, reject) => {
      if (failure) return reject(failure);
      const text = `ping ${++seq}`;
      const timer = setTimeout(() => reject(new Error(`Chat: no echo for "${text}" within 10 s`)), 10_000);
      waiting = {
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      call.write(enc({ case: "post", value: { room: opt.room, text } }));
    });
  const phase = async (ms) => {
    const t0 = nowUs();
    const per = [];
    bytes = 0;
    while (nowUs() - t0 < ms * 1000 || per.length === 0) {
      const s0 = nowUs();
      await post();
      per.push(nowUs() - s0);
    }
    return { per, seconds: (nowUs() - t0) / 1e6 };
  };
  if (warmup > 0) await phase(warmup);
  const m = await phase(duration);
  // Cancel, not just end(): a half-closed stream would stay a member of the room.
  call.cancel();
  return {
    calls: m.per.length,
    callsPerSec: m.per.length / m.seconds,
    bytesPerCall: bytes / m.per.length,
    seconds: m.seconds,
    ...percentiles(m.per),
  };
}

try {
  const out = opt.mode === "watch" ? await watch() : opt.mode === "chat-pingpong" ? await chatPingPong() : null;
  if (!out) throw new Error(`unknown --mode ${opt.mode}`);
  process.stdout.write(JSON.stringify(out) + "\n");
  client.close();
  process.exit(0);
} catch (e) {
  process.stderr.write(`stream-client: ${e.message}\n`);
  process.exit(1);
}
