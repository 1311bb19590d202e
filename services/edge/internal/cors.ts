import type { EdgeRequest, EdgeResponse } from "./http-io.js";

/**
 * Response headers gRPC-Web and Connect clients read and must be allowed to
 * (status and details, compression, the request id); `*` exposes the rest
 * to non-credentialed requests (connect-web's default).
 */
export const EXPOSED_HEADERS = [
  "*",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "grpc-encoding",
  "grpc-accept-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
  "content-encoding",
  "x-request-id",
].join(", ");

/** Request headers the protocols send; a preflight may ask for more custom ones, which are echoed if well-formed. */
const ALLOWED_HEADERS = [
  "content-type",
  "x-grpc-web",
  "x-user-agent",
  "grpc-timeout",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "authorization",
  "traceparent",
  "tracestate",
  "x-request-id",
];

const ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE";
const TOKEN_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+){0,31}$/;

/** The CORS policy of the edge's API routes. */
export interface CorsPolicy {
  /**
   * Handles the CORS part of a request: answers a preflight (true: done),
   * refuses a cross-origin request from an origin not on the list (true:
   * done, 403), or adds the headers an allowed cross-origin response needs
   * (false: go on).
   */
  handle(request: EdgeRequest, response: EdgeResponse, onRefused: () => void): boolean;
}

/** A policy allowing `origins` (or any with "*"); same-origin requests need no list. */
export function createCorsPolicy(origins: readonly string[] | "*"): CorsPolicy {
  const allowed = origins === "*" ? undefined : new Set(origins);
  return {
    handle(request, response, onRefused) {
      const origin = request.headers.origin;
      if (origin === undefined || isSameOrigin(origin, request)) return false;
      const ok = allowed === undefined || allowed.has(origin.toLowerCase());
      const preflight = request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined;
      if (!ok) {
        onRefused();
        response.writeHead(403, { "content-type": "text/plain; charset=utf-8", vary: "Origin" });
        response.end(`origin ${origin} is not allowed to call this API (EDGE_CORS_ORIGINS)\n`);
        return true;
      }
      response.setHeader("access-control-allow-origin", allowed === undefined ? "*" : origin);
      response.setHeader("vary", "Origin");
      if (preflight) {
        const asked = request.headers["access-control-request-headers"];
        const extra = typeof asked === "string" && TOKEN_LIST.test(asked.trim()) ? asked.trim() : "";
        response.writeHead(204, {
          "access-control-allow-methods": ALLOWED_METHODS,
          "access-control-allow-headers": extra === "" ? ALLOWED_HEADERS.join(", ") : `${ALLOWED_HEADERS.join(", ")}, ${extra}`,
          "access-control-max-age": "7200",
        });
        response.end();
        return true;
      }
      response.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
      return false;
    },
  };
}

/** Whether `origin` is the edge itself (the page it served calls back): scheme-less host comparison. */
function isSameOrigin(origin: string, request: EdgeRequest): boolean {
  const host = request.headers.host ?? request.headers[":authority"];
  if (typeof host !== "string") return false;
  const at = origin.indexOf("://");
  return at !== -1 && origin.slice(at + 3).toLowerCase() === host.toLowerCase();
}
