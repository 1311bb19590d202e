// Checks every benchmark peer against the shared contract:
//   - starts it on a free port, expects exactly "READY <port>" on stdout;
//   - GetUser for a few ids gives the same user as every other peer and as the
//     dataset (users compared in their proto3 JSON form), unknown id → NOT_FOUND
//     (REST: 404);
//   - ListUsers page_size=100 → 100 users, next_page_token "100"; last page ends with "";
//   - WatchUsers{include_snapshot} → 1000 EXISTING users, one SNAPSHOT_END, end of stream;
//   - gRPC peers: an unused method → UNIMPLEMENTED;
//   - SIGTERM → exit code 0.
// gRPC peers are called with @grpc/grpc-js and the protobuf-es codec; REST with fetch.
//   node bench/peers/check.mjs [name ...]      (default: all six peers below; the
//   Trellis peers, bench/peers/trellis*.mjs, are not part of this check)
// Prints one line per peer and "peers: N passed, M failed"; exit code 1 on failure.
import { clearTimeout, setTimeout } from "node:timers";
import { performance } from "node:perf_hooks";
import { spawn, execFileSync } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create, toJson } from "@bufbuild/protobuf";
import { userId, users } from "./dataset.mjs";
import { grpcServiceDefinition, pb, toPbUser } from "./user-pb.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));
const { UserService, UserSchema, ChangeType } = pb;

const node = (file) => [process.execPath, [here + file]];
const PEERS = [
  { name: "grpc-js-proto-loader", kind: "grpc", cmd: node("grpc-js-proto-loader.mjs") },
  { name: "grpc-js-protobuf-es", kind: "grpc", cmd: node("grpc-js-protobuf-es.mjs") },
  { name: "connect-node", kind: "grpc", cmd: node("connect-node.mjs") },
  { name: "nest", kind: "grpc", cmd: node("nest.mjs") },
  { name: "go", kind: "grpc", cmd: [here + "go/bin/user-server", []], build: [here + "go/build.sh"] },
  { name: "fastify-rest", kind: "rest", cmd: node("fastify-rest.mjs") },
];

const SAMPLE_INDEXES = [0, 7, 10, 500, 999];
const expectedJson = (i) => toJson(UserSchema, toPbUser(users[i]));
const MISSING_ID = "00000000-0000-4000-8000-00000000ffff";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Start a peer; resolves once READY <port> was printed. */
async function start(peer) {
  const port = await freePort();
  const [cmd, args] = peer.cmd;
  const child = spawn(cmd, [...args, "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  current = { kill: () => child.kill("SIGKILL") };
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY within 20 s; stderr: ${stderr.slice(-500)}`)), 20_000);
    child.stdout.on("data", (d) => {
      stdout += d;
      if (stdout.includes("\n")) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before READY; stderr: ${stderr.slice(-500)}`));
    });
  });
  const line = stdout.split("\n")[0];
  assert(line === `READY ${port}`, `first stdout line is ${JSON.stringify(line)}, want "READY ${port}"`);
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      const { code, signal } = await exited;
      clearTimeout(timer);
      assert(code === 0, `exit after SIGTERM: ${code ?? signal}, want 0; stderr: ${stderr.slice(-300)}`);
      assert(stdout.trim() === line, `extra stdout: ${JSON.stringify(stdout.slice(line.length, 300))}`);
    },
    kill: () => child.kill("SIGKILL"),
  };
}

// The peer running now: killed if this check is itself stopped.
let current;

// ---- gRPC peers ---------------------------------------------------------------------
const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(UserService), "UserService");
const deadline = () => ({ deadline: Date.now() + 10_000 });

function unary(client, method, init) {
  const req = create(UserService.method[method].input, init);
  return new Promise((resolve, reject) =>
    client[method](req, new grpc.Metadata(), deadline(), (err, res) => (err ? reject(err) : resolve(res))),
  );
}

function serverStream(client, method, init) {
  const req = create(UserService.method[method].input, init);
  return new Promise((resolve, reject) => {
    const out = [];
    const call = client[method](req, new grpc.Metadata(), deadline());
    call.on("data", (m) => out.push(m));
    call.on("error", reject);
    call.on("status", (s) => (s.code === grpc.status.OK ? resolve(out) : reject(s)));
  });
}

async function checkGrpc(port) {
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const seen = {};
  try {
    for (const i of SAMPLE_INDEXES) {
      const res = await unary(client, "getUser", { id: userId(i) });
      seen[i] = toJson(UserSchema, res.user);
    }
    const notFound = await unary(client, "getUser", { id: MISSING_ID }).then(
      () => null,
      (e) => e,
    );
    assert(notFound?.code === grpc.status.NOT_FOUND, `GetUser(unknown) → ${notFound?.code ?? "OK"}, want NOT_FOUND`);

    const page = await unary(client, "listUsers", { pageSize: 100 });
    assert(page.users.length === 100, `ListUsers(100) gave ${page.users.length} users`);
    assert(page.nextPageToken === "100", `ListUsers(100).next_page_token = ${JSON.stringify(page.nextPageToken)}`);
    const pageJson = page.users.map((u) => toJson(UserSchema, u));
    assert(
      isDeepStrictEqual(
        pageJson,
        users.slice(0, 100).map((u) => expectedJson(u.index)),
      ),
      "ListUsers(100) users differ from the dataset",
    );
    const last = await unary(client, "listUsers", { pageSize: 100, pageToken: "950" });
    assert(last.users.length === 50 && last.nextPageToken === "", "ListUsers from 950: want 50 users and no next token");
    assert(last.users[49].id === userId(999), "ListUsers from 950: last user is not user 999");
    const deflt = await unary(client, "listUsers", {});
    assert(deflt.users.length === 50 && deflt.nextPageToken === "50", "ListUsers(page_size 0): want 50 users, next 50");

    const events = await serverStream(client, "watchUsers", { includeSnapshot: true });
    assert(events.length === 1001, `WatchUsers gave ${events.length} messages, want 1001`);
    const existing = events.slice(0, 1000);
    assert(
      existing.every((e) => e.type === ChangeType.EXISTING),
      "WatchUsers: first 1000 are not all EXISTING",
    );
    assert(events[1000].type === ChangeType.SNAPSHOT_END, "WatchUsers: message 1001 is not SNAPSHOT_END");
    assert(
      existing.every((e, i) => e.user?.id === userId(i)) && isDeepStrictEqual(toJson(UserSchema, existing[999].user), expectedJson(999)),
      "WatchUsers: snapshot users differ from the dataset",
    );

    const unimpl = await unary(client, "deleteUser", { id: userId(1) }).then(
      () => null,
      (e) => e,
    );
    assert(unimpl?.code === grpc.status.UNIMPLEMENTED, `DeleteUser → ${unimpl?.code ?? "OK"}, want UNIMPLEMENTED`);
  } finally {
    client.close();
  }
  return seen;
}

/* global fetch -- Node 20 global */
// ---- REST peer ----------------------------------------------------------------------
async function checkRest(port) {
  const base = `http://127.0.0.1:${port}`;
  const seen = {};
  for (const i of SAMPLE_INDEXES) {
    const res = await fetch(`${base}/v1/users/${userId(i)}`);
    assert(res.status === 200, `GET /v1/users/${userId(i)} → ${res.status}`);
    seen[i] = (await res.json()).user;
  }
  const nf = await fetch(`${base}/v1/users/${MISSING_ID}`);
  assert(nf.status === 404, `GET unknown user → ${nf.status}, want 404`);
  assert(typeof (await nf.json()).message === "string", "404 body is not a JSON error");

  const page = await (await fetch(`${base}/v1/users?page_size=100`)).json();
  assert(page.users.length === 100 && page.nextPageToken === "100", "GET /v1/users?page_size=100: want 100 users, next 100");
  assert(
    isDeepStrictEqual(
      page.users,
      users.slice(0, 100).map((u) => expectedJson(u.index)),
    ),
    "GET /v1/users?page_size=100 users differ from the dataset",
  );
  const last = await (await fetch(`${base}/v1/users?page_size=100&page_token=950`)).json();
  assert(last.users.length === 50 && last.nextPageToken === "", "page from 950: want 50 users and no next token");
  return seen;
}

// ---- main ---------------------------------------------------------------------------
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.once(sig, () => {
    current?.kill();
    console.log(`check.mjs: stopped by ${sig}`);
    process.exit(130);
  });
}

const only = process.argv.slice(2);
const selected = only.length ? PEERS.filter((p) => only.includes(p.name)) : PEERS;
let passed = 0;
let failed = 0;
for (const peer of selected) {
  const t0 = performance.now();
  let server;
  try {
    if (peer.build) execFileSync(peer.build[0], peer.build.slice(1), { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
    server = current = await start(peer);
    const seen = peer.kind === "grpc" ? await checkGrpc(server.port) : await checkRest(server.port);
    // Identical user data everywhere: every peer against the dataset's canonical JSON
    // (so all peers agree with each other).
    for (const i of SAMPLE_INDEXES) {
      assert(
        isDeepStrictEqual(seen[i], expectedJson(i)),
        `user ${i} differs:\n  got  ${JSON.stringify(seen[i])}\n  want ${JSON.stringify(expectedJson(i))}`,
      );
    }
    const s = server;
    server = undefined;
    await s.stop();
    current = undefined;
    passed++;
    console.log(`ok    ${peer.name} (${Math.round(performance.now() - t0)} ms)`);
  } catch (err) {
    failed++;
    server?.kill();
    console.log(`FAIL  ${peer.name}: ${err?.stderr ? String(err.stderr).slice(-500) : (err?.message ?? err)}`);
  }
}
console.log(`peers: ${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
