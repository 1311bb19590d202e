import { ConfigError, integer, port, readConfig, text, type Env } from "@trellis/kit/config";

/** The edge's own variables (the kit reads the gRPC server's, discovery's and telemetry's). */
export interface EdgeConfig {
  /** EDGE_PORT: the public HTTP port (HTTP/1.1 and h2c on one socket). @default 8080 */
  readonly httpPort: number;
  /**
   * EDGE_CORS_ORIGINS: origins allowed to call cross-origin, comma-separated
   * (`https://app.example.com,http://localhost:5173`), or `*` for any. Empty:
   * same-origin only (the web app the edge serves needs no CORS). @default ""
   */
  readonly corsOrigins: readonly string[] | "*";
  /** EDGE_MAX_BODY_BYTES: the largest request body; more is refused (413 / RESOURCE_EXHAUSTED). @default 4 MiB */
  readonly maxBodyBytes: number;
  /** EDGE_MAX_CALLS: calls in progress at once across all connections; more are refused (RESOURCE_EXHAUSTED / 429). @default 2000 */
  readonly maxCalls: number;
  /** EDGE_MAX_STREAMS: response streams (server streaming) open at once; more are refused. @default 1000 */
  readonly maxStreams: number;
  /** EDGE_MAX_CONNECTIONS: open client connections; more are closed at accept. @default 10000 */
  readonly maxConnections: number;
  /** EDGE_MAX_STREAMS_PER_CONNECTION: HTTP/2 concurrent streams per connection (SETTINGS). @default 100 */
  readonly maxStreamsPerConnection: number;
  /** EDGE_BODY_TIMEOUT_MS: how long a client may take to send its whole request; then 408. @default 10000 */
  readonly bodyTimeoutMs: number;
  /**
   * EDGE_WRITE_STALL_MS: how long a response stream may wait for a client that
   * does not read before the call is ended and the backend call cancelled. @default 30000
   */
  readonly writeStallMs: number;
  /** EDGE_MAX_TIMEOUT_MS: the longest deadline a caller may ask for (`grpc-timeout`, `connect-timeout-ms`); longer ones are lowered. @default 300000 */
  readonly maxTimeoutMs: number;
  /** EDGE_IDLE_TIMEOUT_MS: a connection with no request for this long is closed. @default 120000 */
  readonly idleTimeoutMs: number;
  /**
   * EDGE_ROUTES: which registry name serves each routed service,
   * `trellis.user.v1.UserService=user,…`. @default every service of @trellis/api, named by its package (`trellis.<name>.v1`)
   */
  readonly routes: ReadonlyMap<string, string> | undefined;
  /** EDGE_WEB_DIR: the web app's built files. @default apps/web/dist of this checkout */
  readonly webDir: string | undefined;
  /** EDGE_CSP: the Content-Security-Policy of the web app's pages. @default see DEFAULT_CSP */
  readonly csp: string;
}

/**
 * The web app's default policy: only its own origin, no plugins, no framing;
 * inline styles allowed (component libraries set style attributes), inline
 * scripts not.
 */
export const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9a-f:]+\](:\d{1,5})?$/i;
const ROUTE = /^[A-Za-z_][\w.]*\.[A-Za-z_]\w*=[a-z0-9][a-z0-9._-]*$/;

/** Reads and checks the edge's variables; a bad one throws a one-line ConfigError. */
export function readEdgeConfig(env: Env): EdgeConfig {
  const c = readConfig(
    {
      EDGE_PORT: port(8080),
      EDGE_CORS_ORIGINS: text({ default: "" }),
      EDGE_MAX_BODY_BYTES: integer({ default: 4 * 1024 * 1024, min: 1024, max: 64 * 1024 * 1024 }),
      EDGE_MAX_CALLS: integer({ default: 2000, min: 1, max: 1_000_000 }),
      EDGE_MAX_STREAMS: integer({ default: 1000, min: 0, max: 1_000_000 }),
      EDGE_MAX_CONNECTIONS: integer({ default: 10_000, min: 1, max: 1_000_000 }),
      EDGE_MAX_STREAMS_PER_CONNECTION: integer({ default: 100, min: 1, max: 10_000 }),
      EDGE_BODY_TIMEOUT_MS: integer({ default: 10_000, min: 100, max: 600_000 }),
      EDGE_WRITE_STALL_MS: integer({ default: 30_000, min: 100, max: 3_600_000 }),
      EDGE_MAX_TIMEOUT_MS: integer({ default: 300_000, min: 1, max: 86_400_000 }),
      EDGE_IDLE_TIMEOUT_MS: integer({ default: 120_000, min: 1000, max: 86_400_000 }),
      EDGE_ROUTES: text({ default: "" }),
      EDGE_WEB_DIR: text({ default: "" }),
      EDGE_CSP: text({ default: DEFAULT_CSP, pattern: /^[^\r\n]+$/, expected: "one line" }),
    },
    env,
  );
  return {
    httpPort: c.EDGE_PORT,
    corsOrigins: parseOrigins(c.EDGE_CORS_ORIGINS),
    maxBodyBytes: c.EDGE_MAX_BODY_BYTES,
    maxCalls: c.EDGE_MAX_CALLS,
    maxStreams: c.EDGE_MAX_STREAMS,
    maxConnections: c.EDGE_MAX_CONNECTIONS,
    maxStreamsPerConnection: c.EDGE_MAX_STREAMS_PER_CONNECTION,
    bodyTimeoutMs: c.EDGE_BODY_TIMEOUT_MS,
    writeStallMs: c.EDGE_WRITE_STALL_MS,
    maxTimeoutMs: c.EDGE_MAX_TIMEOUT_MS,
    idleTimeoutMs: c.EDGE_IDLE_TIMEOUT_MS,
    routes: parseRoutes(c.EDGE_ROUTES),
    webDir: c.EDGE_WEB_DIR === "" ? undefined : c.EDGE_WEB_DIR,
    csp: c.EDGE_CSP,
  };
}

function parseOrigins(value: string): readonly string[] | "*" {
  if (value === "*") return "*";
  const origins = value
    .split(",")
    .map((o) => o.trim().replace(/\/$/, ""))
    .filter((o) => o !== "");
  for (const origin of origins) {
    if (!ORIGIN.test(origin)) {
      throw new ConfigError(
        "EDGE_CORS_ORIGINS",
        `EDGE_CORS_ORIGINS must be * or comma-separated origins such as https://app.example.com (got "${origin}")`,
      );
    }
  }
  return origins.map((o) => o.toLowerCase());
}

function parseRoutes(value: string): ReadonlyMap<string, string> | undefined {
  if (value === "") return undefined;
  const routes = new Map<string, string>();
  for (const entry of value
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "")) {
    if (!ROUTE.test(entry)) {
      throw new ConfigError(
        "EDGE_ROUTES",
        `EDGE_ROUTES must be comma-separated <package.Service>=<registry name> pairs such as trellis.user.v1.UserService=user (got "${entry}")`,
      );
    }
    const [service, name] = entry.split("=") as [string, string];
    routes.set(service, name);
  }
  return routes;
}
