import { Counter, Gauge, type Registry } from "prom-client";

/** Why the edge answered a request without calling a backend. */
export type RefusalReason =
  | "body_too_large"
  | "body_timeout"
  | "malformed"
  | "unknown_route"
  | "method_not_allowed"
  | "unsupported_media_type"
  | "cors_origin"
  | "too_many_calls"
  | "too_many_streams"
  | "client_stream_unsupported"
  | "compressed_unsupported";

/** The edge's own counters (the kit's client metrics count the backend calls). */
export interface EdgeMetrics {
  /** A call answered, by protocol and gRPC code name. */
  handled(protocol: string, code: string): void;
  /** A request refused before any backend call. */
  refused(protocol: string, reason: RefusalReason): void;
  /** A response stream that was ended because its client stopped reading. */
  stalled(protocol: string): void;
  /** Calls and streams in progress. */
  inFlight(calls: number, streams: number): void;
}

/** Counters on `registry`; a no-op when metrics are off. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- either of prom-client's content types
export function createEdgeMetrics(registry: Registry<any> | undefined): EdgeMetrics {
  if (registry === undefined)
    return { handled: () => undefined, refused: () => undefined, stalled: () => undefined, inFlight: () => undefined };
  const registers = [registry];
  const handled = new Counter({
    name: "trellis_edge_requests_total",
    help: "Calls the edge answered, by protocol (grpc-web, grpc-web-text, connect, rest) and gRPC code.",
    labelNames: ["protocol", "code"],
    registers,
  });
  const refused = new Counter({
    name: "trellis_edge_refused_total",
    help: "Requests the edge refused before calling a backend, by protocol and reason.",
    labelNames: ["protocol", "reason"],
    registers,
  });
  const stalled = new Counter({
    name: "trellis_edge_stalled_streams_total",
    help: "Response streams ended because the client stopped reading for EDGE_WRITE_STALL_MS.",
    labelNames: ["protocol"],
    registers,
  });
  const calls = new Gauge({ name: "trellis_edge_calls_in_flight", help: "Calls in progress through the edge.", registers });
  const streams = new Gauge({ name: "trellis_edge_streams_open", help: "Response streams open through the edge.", registers });
  return {
    handled: (protocol, code) => handled.inc({ protocol, code }),
    refused: (protocol, reason) => refused.inc({ protocol, reason }),
    stalled: (protocol) => stalled.inc({ protocol }),
    inFlight(c, s) {
      calls.set(c);
      streams.set(s);
    },
  };
}
