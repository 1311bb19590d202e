// A stand-in OpenTelemetry collector for the observability scenario: an OTLP/gRPC
// TraceService that accepts every export, counts the spans in it and answers at once,
// so the Trellis peer's exporter costs what it costs against a healthy collector.
// Usage: node otlp-sink.mjs --port <n> --stats <file> (the counts are rewritten there
// after each export).
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || process.argv[i + 1] === undefined) throw new Error("usage: otlp-sink.mjs --port <n> --stats <file>");
  return process.argv[i + 1];
}

/** Yields [fieldNumber, bytes] for each length-delimited field of a protobuf message; skips the rest. */
function* lengthDelimited(buf) {
  let i = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      yield [Math.floor(key / 8), buf.subarray(i, i + len)];
      i += len;
    } else throw new Error(`wire type ${wire}`);
  }
}

/** ExportTraceServiceRequest.resource_spans(1) → ResourceSpans.scope_spans(2) → ScopeSpans.spans(2). */
function countSpans(request) {
  let spans = 0;
  for (const [f1, resourceSpans] of lengthDelimited(request)) {
    if (f1 !== 1) continue;
    for (const [f2, scopeSpans] of lengthDelimited(resourceSpans)) {
      if (f2 !== 2) continue;
      for (const [f3] of lengthDelimited(scopeSpans)) if (f3 === 2) spans++;
    }
  }
  return spans;
}

const statsFile = arg("--stats");
const stats = { exports: 0, spans: 0, bytes: 0 };
writeFileSync(statsFile, JSON.stringify(stats));
const raw = (b) => b;
const server = new grpc.Server();
server.addService(
  {
    Export: {
      path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
  },
  {
    Export(call, callback) {
      stats.exports++;
      stats.bytes += call.request.length;
      stats.spans += countSpans(call.request);
      writeFileSync(statsFile, JSON.stringify(stats));
      callback(null, Buffer.alloc(0)); // an empty ExportTraceServiceResponse: all accepted
    },
  },
);
server.bindAsync(`127.0.0.1:${arg("--port")}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`READY ${port}\n`);
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
