import { createServer, type Http2Server, type ServerHttp2Session } from "node:http2";

/** One span as an OTLP exporter sent it (ids as hex). */
export interface SinkSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  readonly kind: number;
}

/** A stand-in OpenTelemetry collector: an OTLP/gRPC TraceService on node:http2 that keeps every span. */
export interface OtlpSink {
  /** `http://127.0.0.1:<port>`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly spans: readonly SinkSpan[];
  close(): Promise<void>;
}

type Field = readonly [number, number | Buffer];

/** The fields of a protobuf message: [number, varint value or length-delimited bytes]; fixed-width ones skipped. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key & 7;
    const number = Math.floor(key / 8);
    if (wire === 0) out.push([number, varint()]);
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const length = varint();
      out.push([number, buf.subarray(i, i + length)]);
      i += length;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const bytesOf = (list: Field[], n: number): Buffer[] => list.filter(([f, v]) => f === n && Buffer.isBuffer(v)).map(([, v]) => v as Buffer);
const numberOf = (list: Field[], n: number): number =>
  (list.find(([f, v]) => f === n && typeof v === "number")?.[1] as number | undefined) ?? 0;

/** The resource's service.name: Resource.attributes(1) KeyValue{key 1, value 2 AnyValue{string_value 1}}. */
function serviceName(resource: Buffer | undefined): string {
  for (const attribute of bytesOf(resource === undefined ? [] : fields(resource), 1)) {
    const kv = fields(attribute);
    if (bytesOf(kv, 1)[0]?.toString() !== "service.name") continue;
    const value = bytesOf(kv, 2)[0];
    return value === undefined ? "" : (bytesOf(fields(value), 1)[0]?.toString() ?? "");
  }
  return "";
}

/** ExportTraceServiceRequest.resource_spans(1) → ResourceSpans{resource 1, scope_spans 2} → ScopeSpans.spans(2) → Span. */
export function spansOf(request: Buffer): SinkSpan[] {
  const spans: SinkSpan[] = [];
  for (const resourceSpans of bytesOf(fields(request), 1)) {
    const rs = fields(resourceSpans);
    const service = serviceName(bytesOf(rs, 1)[0]);
    for (const scopeSpans of bytesOf(rs, 2)) {
      for (const span of bytesOf(fields(scopeSpans), 2)) {
        const s = fields(span);
        spans.push({
          service,
          traceId: bytesOf(s, 1)[0]?.toString("hex") ?? "",
          spanId: bytesOf(s, 2)[0]?.toString("hex") ?? "",
          parentSpanId: bytesOf(s, 4)[0]?.toString("hex") ?? "",
          name: bytesOf(s, 5)[0]?.toString() ?? "",
          kind: numberOf(s, 6),
        });
      }
    }
  }
  return spans;
}

/** Starts the sink on a free loopback port. */
export function startOtlpSink(): Promise<OtlpSink> {
  const spans: SinkSpan[] = [];
  const server: Http2Server = createServer();
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      if (headers[":path"] === "/opentelemetry.proto.collector.trace.v1.TraceService/Export" && body.length >= 5) {
        spans.push(...spansOf(body.subarray(5, 5 + body.readUInt32BE(1))));
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      // An empty ExportTraceServiceResponse: everything accepted.
      stream.end(Buffer.alloc(5));
    });
  });
  server.on("sessionError", () => undefined);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        spans,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Open exporter connections would hold close() until they idle out.
            for (const session of sessions) session.destroy();
          }),
      });
    });
  });
}
