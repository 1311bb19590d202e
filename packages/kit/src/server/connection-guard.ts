import { constants, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { Logger } from "../observability/logger.js";
import type { ServerLimits } from "./server-limits.js";

/** Options of {@link createConnectionGuard}. */
export interface ConnectionGuardOptions {
  readonly limits: Pick<
    ServerLimits,
    "maxConnections" | "maxConnectionsPerAddress" | "prefaceTimeoutMs" | "maxResetsPerWindow" | "resetWindowMs" | "minPingIntervalMs"
  >;
  readonly logger: Logger;
  /** Told of every stream before grpc-js sees it, and when it closes (the call guard). */
  readonly streams: {
    open(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
    close(stream: ServerHttp2Stream): void;
  };
  /** @default Date.now */
  readonly now?: () => number;
  /** How long an abusive connection gets, after its GOAWAY, before it is destroyed. @default 1000 */
  readonly goawayGraceMs?: number;
}

/** What the guard has done since the server started (for tests and metrics). */
export interface ConnectionGuardStats {
  readonly open: number;
  /** Connections closed on accept, by reason. */
  readonly refused: { readonly total: number; readonly perAddress: number };
  /** Connections closed for not sending the HTTP/2 preface in time. */
  readonly prefaceTimeouts: number;
  /** Connections sent GOAWAY ENHANCE_YOUR_CALM, by reason. */
  readonly tooManyResets: number;
  readonly tooManyPings: number;
}

/** Admission and abuse control for a server's connections. */
export interface ConnectionGuard {
  /** Counts a new connection in; false (and the socket destroyed) when a limit is reached. */
  admit(socket: Socket): boolean;
  /** Watches a connection's HTTP/2 session once grpc-js has set it up. */
  watch(session: ServerHttp2Session): void;
  readonly stats: ConnectionGuardStats;
}

const NO_LIMIT = Number.POSITIVE_INFINITY;
/** Refusals and abuse are logged at most once per this long per kind, with a count of the rest. */
const LOG_EVERY_MS = 10_000;

/**
 * Creates the guard the server puts in front of grpc-js. Node's HTTP/2 and
 * grpc-js leave these to the application: a cap on connections in total and
 * per client address (file descriptors are finite: a few hundred half-dead
 * connections once took a service off the air), a deadline for the HTTP/2
 * preface, the rapid-reset and ping-flood rules, and closing a session's
 * socket when the session closes.
 */
export function createConnectionGuard(options: ConnectionGuardOptions): ConnectionGuard {
  const { limits, logger, streams } = options;
  const now = options.now ?? Date.now;
  const goawayGraceMs = options.goawayGraceMs ?? 1000;
  const maxTotal = limits.maxConnections > 0 ? limits.maxConnections : NO_LIMIT;
  const maxPerAddress = limits.maxConnectionsPerAddress > 0 ? limits.maxConnectionsPerAddress : NO_LIMIT;
  const perAddress = new Map<string, number>();
  const stats = { open: 0, refused: { total: 0, perAddress: 0 }, prefaceTimeouts: 0, tooManyResets: 0, tooManyPings: 0 };
  const warn = createThrottledWarning(logger, now);

  const release = (address: string): void => {
    stats.open -= 1;
    const left = (perAddress.get(address) ?? 1) - 1;
    if (left <= 0) perAddress.delete(address);
    else perAddress.set(address, left);
  };

  const calmDown = (session: ServerHttp2Session, address: string, reason: "too_many_resets" | "too_many_pings", message: string): void => {
    if (session.destroyed || session.closed) return;
    warn(reason, `${message}; sent GOAWAY ENHANCE_YOUR_CALM and closed the connection`, { "client.address": address });
    try {
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, session.state.lastProcStreamID ?? 0, Buffer.from(reason));
    } catch {
      // Already going away: destroying below is all that is left to do.
    }
    setTimeout(() => session.destroy(), goawayGraceMs).unref();
  };

  return {
    stats,

    admit(socket) {
      const address = socket.remoteAddress ?? "unknown";
      const fromAddress = perAddress.get(address) ?? 0;
      if (stats.open >= maxTotal) {
        stats.refused.total += 1;
        warn("max_connections", `refused a connection from ${address}: the server holds its limit of ${limits.maxConnections} connections`);
        socket.destroy();
        return false;
      }
      if (fromAddress >= maxPerAddress) {
        stats.refused.perAddress += 1;
        warn(
          "max_connections_per_address",
          `refused a connection from ${address}: it already has ${fromAddress} open (the limit per address)`,
        );
        socket.destroy();
        return false;
      }
      stats.open += 1;
      perAddress.set(address, fromAddress + 1);
      socket.once("close", () => release(address));
      return true;
    },

    watch(session) {
      // Read now: session.socket throws once the session has let go of it.
      const address = session.socket?.remoteAddress ?? "unknown";
      const preface =
        limits.prefaceTimeoutMs > 0
          ? setTimeout(() => {
              stats.prefaceTimeouts += 1;
              warn("preface_timeout", `closed a connection from ${address}: no HTTP/2 preface within ${limits.prefaceTimeoutMs} ms`);
              session.destroy();
            }, limits.prefaceTimeoutMs).unref()
          : undefined;
      session.once("remoteSettings", () => clearTimeout(preface));
      session.once("close", () => clearTimeout(preface));

      let openStreams = 0;
      // Whether a call was opened since the last ping: pings amid calls are allowed
      // (grpc-go clients probe bandwidth with one after each response they read).
      let activeSincePing = false;
      const resetWindow = createWindowCounter(limits.resetWindowMs, now);
      const onStreamClose = function (this: ServerHttp2Stream): void {
        openStreams -= 1;
        streams.close(this);
        if (this.aborted && limits.maxResetsPerWindow > 0 && resetWindow.add() > limits.maxResetsPerWindow) {
          stats.tooManyResets += 1;
          calmDown(
            session,
            address,
            "too_many_resets",
            `a client reset more than ${limits.maxResetsPerWindow} calls within ${limits.resetWindowMs} ms`,
          );
        }
      };
      // Before grpc-js' own listener, so that a stream answered here is never started.
      session.prependListener("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
        openStreams += 1;
        activeSincePing = true;
        stream.once("close", onStreamClose);
        streams.open(stream, headers);
      });

      if (limits.minPingIntervalMs > 0) {
        let lastPing = Number.NEGATIVE_INFINITY;
        let strikes = 0;
        session.on("ping", () => {
          const at = now();
          if (openStreams > 0 || activeSincePing) strikes = 0;
          else if (at - lastPing < limits.minPingIntervalMs) strikes += 1;
          activeSincePing = false;
          lastPing = at;
          if (strikes > 2) {
            stats.tooManyPings += 1;
            calmDown(
              session,
              address,
              "too_many_pings",
              `a client pinged an idle connection more often than every ${limits.minPingIntervalMs} ms`,
            );
          }
        });
      }
    },
  };
}

/** Counts events in a fixed window that restarts when it has passed. */
function createWindowCounter(windowMs: number, now: () => number): { add(): number } {
  let start = now();
  let count = 0;
  return {
    add() {
      const at = now();
      if (at - start >= windowMs) {
        start = at;
        count = 0;
      }
      return (count += 1);
    },
  };
}

/** Logs a warning per kind at most once per LOG_EVERY_MS, saying how many were left out. */
function createThrottledWarning(
  logger: Logger,
  now: () => number,
): (kind: string, message: string, fields?: Readonly<Record<string, unknown>>) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (kind, message, fields = {}) => {
    const at = now();
    const entry = last.get(kind);
    if (entry !== undefined && at - entry.at < LOG_EVERY_MS) {
      entry.suppressed += 1;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    last.set(kind, { at, suppressed: 0 });
    logger.warn(
      { "event.action": "connection-limit", "event.reason": kind, ...fields },
      suppressed > 0 ? `${message} (and ${suppressed} more like it since the last warning)` : message,
    );
  };
}
