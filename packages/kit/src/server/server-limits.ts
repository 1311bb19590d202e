import { readFileSync } from "node:fs";

/**
 * What one client may take from a server. Each limit has a production default
 * and is switched off with 0 (where it says so). The README's "Limits and
 * protections" lists each with the status a client gets and its variable.
 */
export interface ServerLimits {
  /**
   * Open connections the server holds at once; more are closed on accept.
   * @default three quarters of the process' open-file limit, at most 10,000
   */
  readonly maxConnections: number;
  /**
   * Open connections from one client IP address; more are closed on accept, so
   * one client cannot use up the connections (and file descriptors) of all.
   * Raise it when every client comes through one proxy. 0 disables.
   * @default 100
   */
  readonly maxConnectionsPerAddress: number;
  /**
   * How long a new connection may take to send the HTTP/2 preface and
   * SETTINGS before it is closed. @default 10_000
   */
  readonly prefaceTimeoutMs: number;
  /**
   * Calls one connection may have open at once (HTTP/2
   * SETTINGS_MAX_CONCURRENT_STREAMS): clients queue the rest. @default 1000
   */
  readonly maxConcurrentStreams: number;
  /**
   * Calls in progress on the whole server, from the request headers to the
   * status; past it new calls get RESOURCE_EXHAUSTED before any work is done.
   * Health checks are exempt. 0 disables. @default 10_000
   */
  readonly maxConcurrentCalls: number;
  /**
   * How long a single-request call (unary, server streaming) may take to send
   * its whole request; past it the call ends with DEADLINE_EXCEEDED before the
   * handler runs. 0 disables. @default 10_000
   */
  readonly requestTimeoutMs: number;
  /**
   * Streams a client may reset (RST_STREAM before the server answered) per
   * connection within `resetWindowMs`; past it the connection gets GOAWAY
   * ENHANCE_YOUR_CALM and is closed (the HTTP/2 "rapid reset" attack,
   * CVE-2023-44487). 0 disables. @default 200
   */
  readonly maxResetsPerWindow: number;
  /** @default 10_000 */
  readonly resetWindowMs: number;
  /**
   * Keepalive: the server pings each connection this often and closes one
   * that does not answer within `keepaliveTimeoutMs` — half-open connections,
   * and connections Node's HTTP/2 stopped reading after a protocol error
   * (see the README's known issues). 0 disables. @default 30_000
   */
  readonly keepaliveTimeMs: number;
  /** @default 10_000 */
  readonly keepaliveTimeoutMs: number;
  /**
   * Keepalive enforcement: a client that pings an idle connection (no call
   * open or opened since its last ping) more often than this gets two
   * strikes, then GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (as grpc-go; pings
   * amid calls, such as grpc-go's bandwidth probes, never count). 0 disables.
   * @default 10_000
   */
  readonly minPingIntervalMs: number;
  /** A connection with no call open for this long is closed with GOAWAY. 0 disables. @default 300_000 */
  readonly idleTimeoutMs: number;
  /**
   * Connections are closed gracefully (GOAWAY, ±10 % jitter) after this long so
   * clients rebalance across instances; calls still open get
   * `maxConnectionAgeGraceMs` to finish. 0 disables. @default 1_800_000
   */
  readonly maxConnectionAgeMs: number;
  /** @default 300_000 */
  readonly maxConnectionAgeGraceMs: number;
  /**
   * A response stream whose client has not read for this long (its writes
   * stay blocked by HTTP/2 flow control) ends with RESOURCE_EXHAUSTED, so a
   * client that never reads cannot pin server memory. 0 disables. @default 30_000
   */
  readonly maxWriteStallMs: number;
}

/** The open-file (RLIMIT_NOFILE) soft limit of this process, if the platform tells. */
export function openFileLimit(read: (path: string) => string = (path) => readFileSync(path, "utf8")): number | undefined {
  try {
    const line = read("/proc/self/limits")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    const value = soft === undefined ? Number.NaN : Number(soft);
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The default limits; `maxConnections` is derived from the open-file limit so
 * that a quarter of the descriptors stay free for the database, the admin port
 * and logs when connections run out.
 */
export function defaultServerLimits(fileLimit: number | undefined = openFileLimit()): ServerLimits {
  return {
    maxConnections: fileLimit === undefined ? 10_000 : Math.max(16, Math.min(10_000, Math.floor(fileLimit * 0.75))),
    maxConnectionsPerAddress: 100,
    prefaceTimeoutMs: 10_000,
    maxConcurrentStreams: 1000,
    maxConcurrentCalls: 10_000,
    requestTimeoutMs: 10_000,
    maxResetsPerWindow: 200,
    resetWindowMs: 10_000,
    keepaliveTimeMs: 30_000,
    keepaliveTimeoutMs: 10_000,
    minPingIntervalMs: 10_000,
    idleTimeoutMs: 300_000,
    maxConnectionAgeMs: 1_800_000,
    maxConnectionAgeGraceMs: 300_000,
    maxWriteStallMs: 30_000,
  };
}
