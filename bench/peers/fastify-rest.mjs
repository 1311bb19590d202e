// Peer: REST/JSON on Fastify 5 over HTTP/1.1 keep-alive — the "before" a team
// has when it moves to gRPC. JSON field names follow the proto3 JSON mapping
// (camelCase, enum names, RFC 3339 timestamps), so bodies match what grpcurl
// or a gRPC-JSON gateway would print for the same messages.
//   GET /v1/users/:id                          → {"user": {...}} | 404 {"code": 5, "message": ...}
//   GET /v1/users?page_size=100&page_token=…   → {"users": [...], "nextPageToken": "..."}
//   node bench/peers/fastify-rest.mjs --port <n>
import { setTimeout } from "node:timers";
import Fastify from "fastify";
import { buildStore, parsePort, ready } from "./dataset.mjs";

const store = buildStore((u) => ({
  id: u.id,
  email: u.email,
  displayName: u.displayName,
  roles: [...u.roles],
  etag: u.etag,
  createTime: u.isoTime,
  updateTime: u.isoTime,
}));

const app = Fastify({ logger: false });

app.get("/v1/users/:id", async (request, reply) => {
  const user = store.get(request.params.id);
  if (!user) {
    reply.code(404);
    return { code: 5, message: `user ${request.params.id} not found`, details: [] };
  }
  return { user };
});

app.get("/v1/users", async (request, reply) => {
  const { page_size: pageSize = "0", page_token: pageToken = "" } = request.query;
  const page = /^\d+$/.test(pageSize) ? store.page(Number(pageSize), pageToken) : null;
  if (!page) {
    reply.code(400);
    return { code: 3, message: "bad page_size or page_token", details: [] };
  }
  return { users: page.items, nextPageToken: page.nextPageToken };
});

process.once("SIGTERM", async () => {
  setTimeout(() => process.exit(0), 2000).unref();
  await app.close(); // Fastify 5 also closes idle keep-alive connections
  process.exit(0);
});

await app.listen({ host: "127.0.0.1", port: parsePort() });
ready(app.server.address().port);
