import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Answers one admin route. */
export type AdminRoute = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/** The admin HTTP port: `/healthz`, `/readyz` and whatever routes are added (later `/metrics`). */
export interface AdminServer {
  /** Adds or replaces a GET route. */
  route(path: string, handler: AdminRoute): void;
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

/** Options of {@link createAdminServer}. */
export interface AdminServerOptions {
  /** Whether the process should receive traffic (`/readyz` 200 vs 503). */
  readonly ready: () => boolean;
}

/**
 * A small node:http server for probes: `/healthz` is liveness (the event loop
 * answers), `/readyz` is readiness (serving and not shutting down).
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  const routes = new Map<string, AdminRoute>();
  routes.set("/healthz", (_req, res) => text(res, 200, "ok\n"));
  routes.set("/readyz", (_req, res) => (options.ready() ? text(res, 200, "ready\n") : text(res, 503, "not ready\n")));
  const server: Server = createHttpServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const route = routes.get(path);
    if (req.method !== "GET" && req.method !== "HEAD") return text(res, 405, "method not allowed\n");
    if (route === undefined) return text(res, 404, "not found\n");
    Promise.resolve(route(req, res)).catch(() => {
      if (!res.headersSent) text(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  return {
    route: (path, handler) => void routes.set(path, handler),
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.removeListener("error", reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
