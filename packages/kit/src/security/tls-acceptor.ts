import type { Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "../observability/logger.js";
import { identityOfCertificate, type PeerIdentity } from "./spiffe-id.js";
import type { TlsFiles } from "./tls-files.js";

/**
 * Whether a server asks clients for a certificate: "require" is mTLS (no
 * verified certificate, no connection), "request" verifies one when it is
 * sent (a wrong one is refused) and lets clients without one in (an edge
 * serving browsers and services on one port), "none" never asks.
 */
export type ClientAuth = "require" | "request" | "none";

/** How a handshake ended, as counted in `trellis_tls_handshakes_total{outcome}`. */
export type HandshakeOutcome = "ok" | "failed" | "timeout" | "no_h2" | "foreign_trust_domain" | "bad_client_certificate";

/** The TLS settings of a server (createServer's `tls`). */
export interface ServerTls {
  /** The server's certificate, key and the CA bundle clients are verified against; reloaded when they change. */
  readonly files: TlsFiles;
  /** @default "require" when the files have a CA bundle, else "none" */
  readonly clientAuth?: ClientAuth;
  /**
   * Client certificates whose SPIFFE ID is in another trust domain are
   * refused at the handshake. undefined: any trust domain. @default undefined
   */
  readonly trustDomain?: string;
  /** A connection that has not finished its handshake by then is closed. @default 10_000 */
  readonly handshakeTimeoutMs?: number;
  /** Told of each handshake's outcome (metrics). @default none */
  readonly onHandshake?: (outcome: HandshakeOutcome) => void;
}

/** Runs the TLS handshake on connections the server admitted, before grpc-js sees them. */
export interface TlsAcceptor {
  /** Handshakes `socket`; the acceptor's `ready` gets the TLS socket once the peer is verified (never, if it is refused). */
  accept(socket: Socket): void;
  close(): void;
}

/** Where a TLS socket's verified peer identity is kept, readable through Node's HTTP/2 socket proxy. */
export const PEER_IDENTITY = Symbol("trellis.peer-identity");

/** The verified identity recorded on a TLS socket (or the HTTP/2 session's proxy of it). */
export function peerIdentityOfSocket(socket: object | undefined): PeerIdentity | undefined {
  try {
    return (socket as { [PEER_IDENTITY]?: PeerIdentity } | undefined)?.[PEER_IDENTITY];
  } catch {
    // The session has let go of its socket (ERR_HTTP2_SOCKET_UNBOUND): a closing connection.
    return undefined;
  }
}

/**
 * The kit's TLS front: a node:tls server that never listens — the kit's own
 * TCP listener hands it each admitted connection — so the connection guard's
 * limits run before any TLS work, each handshake uses the certificates
 * current at that moment (a rotation needs no restart and touches no open
 * connection), and the peer's SPIFFE identity is read once per connection.
 * Only HTTP/2 (ALPN h2) is accepted.
 */
export function createTlsAcceptor(tls: ServerTls, logger: Logger, ready: (socket: TLSSocket) => void): TlsAcceptor {
  const clientAuth = tls.clientAuth ?? (tls.files.current().ca === undefined ? "none" : "require");
  if (clientAuth !== "none" && tls.files.current().ca === undefined)
    throw new Error(`client authentication "${clientAuth}" needs a CA bundle to verify clients against`);
  const count = tls.onHandshake ?? (() => undefined);
  const material = tls.files.current();
  const server = createTlsServer({
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    minVersion: "TLSv1.2",
    ALPNProtocols: ["h2"],
    requestCert: clientAuth !== "none",
    rejectUnauthorized: clientAuth === "require",
    handshakeTimeout: tls.handshakeTimeoutMs ?? 10_000,
  });
  const unsubscribe = tls.files.onChange((next) =>
    server.setSecureContext({ cert: next.cert, key: next.key, ca: next.ca, minVersion: "TLSv1.2" }),
  );
  const warn = createRareWarning(logger);

  server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    const timeout = error.code === "ERR_TLS_HANDSHAKE_TIMEOUT";
    count(timeout ? "timeout" : "failed");
    warn(timeout ? "timeout" : "failed", `TLS handshake with ${remote(socket)} failed: ${error.message}`);
    socket.destroy();
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol !== "h2") {
      count("no_h2");
      warn("no_h2", `closed a TLS connection from ${remote(socket)}: it did not negotiate HTTP/2 (ALPN h2)`);
      return void socket.destroy();
    }
    const certificate = clientAuth === "none" ? undefined : socket.getPeerCertificate();
    const presented = certificate !== undefined && Object.keys(certificate).length > 0;
    if (presented && !socket.authorized) {
      // "request": a certificate was sent and does not verify.
      count("bad_client_certificate");
      warn(
        "bad_client_certificate",
        `closed a TLS connection from ${remote(socket)}: its certificate does not verify (${String(socket.authorizationError)})`,
      );
      return void socket.destroy();
    }
    const identity = presented ? identityOfCertificate(certificate) : undefined;
    if (identity !== undefined && tls.trustDomain !== undefined && identity.trustDomain !== tls.trustDomain) {
      count("foreign_trust_domain");
      warn(
        "foreign_trust_domain",
        `closed a TLS connection from ${remote(socket)}: its identity ${identity.spiffeId} is not of trust domain ${tls.trustDomain}`,
      );
      return void socket.destroy();
    }
    (socket as TLSSocket & { [PEER_IDENTITY]?: PeerIdentity })[PEER_IDENTITY] = identity;
    count("ok");
    ready(socket);
  });

  return {
    accept(socket) {
      // What node:tls' own listener does with each accepted connection.
      server.emit("connection", socket);
    },
    close() {
      unsubscribe();
    },
  };
}

function remote(socket: TLSSocket): string {
  return socket.remoteAddress ?? "unknown";
}

/** A warning per kind at most once a minute: handshake failures come in floods. */
function createRareWarning(logger: Logger): (kind: string, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (kind, message) => {
    const at = Date.now();
    const entry = last.get(kind);
    if (entry !== undefined && at - entry.at < 60_000) {
      entry.suppressed += 1;
      return;
    }
    last.set(kind, { at, suppressed: 0 });
    const more = entry !== undefined && entry.suppressed > 0 ? ` (and ${entry.suppressed} more since the last warning)` : "";
    logger.warn({ "event.action": "tls-handshake", "event.reason": kind }, `${message}${more}`);
  };
}
