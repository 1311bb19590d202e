import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import type { Protocol } from "./protocol.js";

/** Options of {@link createTrellisTransport}. */
export interface TrellisTransportOptions {
  /** Where the edge is. @default location.origin (the edge serves this app) */
  readonly baseUrl?: string;
  /**
   * Deadline of every call that sets no `timeoutMs` of its own, sent to the server as
   * `grpc-timeout` / `connect-timeout-ms`. Long-lived streams pass `timeoutMs: 0` (none).
   * @default 10_000
   */
  readonly defaultTimeoutMs?: number;
}

/**
 * A Connect-ES transport to the edge in the chosen protocol: gRPC-Web with binary protobuf
 * (what the edge and Envoy's grpc_web filter speak), or the Connect protocol with JSON
 * (readable in the browser's network panel).
 */
export function createTrellisTransport(protocol: Protocol, options: TrellisTransportOptions = {}): Transport {
  const baseUrl = options.baseUrl ?? globalThis.location.origin;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 10_000;
  return protocol === "connect"
    ? createConnectTransport({ baseUrl, useBinaryFormat: false, defaultTimeoutMs })
    : createGrpcWebTransport({ baseUrl, useBinaryFormat: true, defaultTimeoutMs });
}
