// Server-streaming load client on node:http2 for the edge-vs-Envoy scenario, run by the
// harness pinned to the load core:
//   node bench/lib/web-stream-client.mjs --protocol grpc-web --url http://127.0.0.1:8080 --duration 10 --warmup 3
// One WatchUsers{include_snapshot: true} stream after another on one HTTP/2 connection, as
// gRPC (`application/grpc`, straight to the service) or gRPC-Web (`application/grpc-web+proto`,
// through a proxy): the same client code either way, so the numbers differ only by the path.
// A stream counts as done at CHANGE_TYPE_SNAPSHOT_END (then it is reset with CANCEL, as a
// browser's fetch abort does) or when the server ends it; an error status fails the run.
// Prints one JSON object on stdout: messages/s, streams/s, per-stream time percentiles (µs).
import { connect, constants } from "node:http2";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";

const { values: opt } = parseArgs({
  options: {
    protocol: { type: "string", default: "grpc-web" },
    url: { type: "string" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "0" },
  },
});
if (opt.url === undefined || !["grpc", "grpc-web"].includes(opt.protocol)) {
  process.stderr.write("usage: web-stream-client.mjs --protocol grpc|grpc-web --url http://host:port [--duration s] [--warmup s]\n");
  process.exit(2);
}
const duration = Number(opt.duration) * 1000;
const warmup = Number(opt.warmup) * 1000;
const PATH = "/trellis.user.v1.UserService/WatchUsers";
const headers =
  opt.protocol === "grpc"
    ? { ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" }
    : { ":method": "POST", ":path": PATH, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };

const nowUs = () => Number(process.hrtime.bigint()) / 1000;

function percentiles(us) {
  us.sort((a, b) => a - b);
  const p = (q) => us[Math.min(us.length - 1, Math.max(0, Math.ceil((q / 100) * us.length) - 1))] ?? null;
  const mean = us.length ? us.reduce((a, b) => a + b, 0) / us.length : null;
  return { p50: p(50), p90: p(90), p99: p(99), p999: p(99.9), meanUs: mean, samples: us.length };
}

/** The grpc-status of a gRPC-Web trailers frame's text, or of HTTP/2 headers/trailers. */
function statusOf(text) {
  const m = /grpc-status:\s*(\d+)/i.exec(text);
  return m ? Number(m[1]) : undefined;
}

function watchOnce(session, body) {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let buffered = Buffer.alloc(0);
    let messages = 0;
    let bytes = 0;
    let finished = false;
    const done = (error) => {
      if (finished) return;
      finished = true;
      if (error) reject(error);
      else resolve({ messages, bytes });
    };
    stream.on("response", (h) => {
      if (h[":status"] !== 200) done(new Error(`WatchUsers: HTTP ${h[":status"]}`));
      const status = h["grpc-status"];
      if (status !== undefined && status !== "0") done(new Error(`WatchUsers: grpc-status ${status} ${h["grpc-message"] ?? ""}`));
    });
    stream.on("trailers", (t) => {
      const status = t["grpc-status"];
      if (status !== undefined && status !== "0") done(new Error(`WatchUsers: grpc-status ${status} ${t["grpc-message"] ?? ""}`));
    });
    stream.on("data", (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (!finished && buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) break;
        const flags = buffered[0];
        const data = buffered.subarray(5, 5 + length);
        buffered = buffered.subarray(5 + length);
        if (flags & 0x80) {
          const status = statusOf(data.toString("latin1"));
          if (status !== 0) done(new Error(`WatchUsers: trailers frame grpc-status ${status}`));
          continue;
        }
        messages += 1;
        bytes += 5 + length;
        // WatchUsersResponse.type (field 1, varint) comes first: 0x08 0x02 = SNAPSHOT_END.
        if (data[0] === 0x08 && data[1] === 2) {
          stream.close(constants.NGHTTP2_CANCEL);
          done();
        }
      }
    });
    stream.on("end", () => done());
    stream.on("error", (e) => done(e));
    stream.end(body);
  });
}

async function main() {
  const pb = await import("@trellis/api/trellis/user/v1/user_pb.js");
  const request = toBinary(pb.WatchUsersRequestSchema, create(pb.WatchUsersRequestSchema, { includeSnapshot: true }));
  const body = Buffer.alloc(5 + request.length);
  body.writeUInt32BE(request.length, 1);
  body.set(request, 5);
  const session = connect(opt.url);
  session.on("error", () => undefined);
  const phase = async (ms) => {
    const t0 = nowUs();
    let messages = 0;
    let bytes = 0;
    let streams = 0;
    const per = [];
    while (nowUs() - t0 < ms * 1000 || streams === 0) {
      const s0 = nowUs();
      const r = await watchOnce(session, body);
      per.push(nowUs() - s0);
      if (r.messages === 0) throw new Error("WatchUsers: a stream ended with no message");
      messages += r.messages;
      bytes += r.bytes;
      streams += 1;
    }
    return { streams, messages, bytes, per, seconds: (nowUs() - t0) / 1e6 };
  };
  try {
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
  } finally {
    session.destroy();
  }
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out) + "\n");
    process.exit(0);
  },
  (e) => {
    process.stderr.write(`web-stream-client: ${e.message}\n`);
    process.exit(1);
  },
);
