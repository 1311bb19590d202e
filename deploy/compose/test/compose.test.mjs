// deploy/compose running (deploy/compose/up.sh): the system called through the edge only,
// then each piece of infrastructure asked what it saw. CI (.ci/compose.sh) runs it against the
// project's own images under podman.
//   TRELLIS_EDGE_URL, TRELLIS_CONSUL_URL, TRELLIS_PROMETHEUS_URL, TRELLIS_JAEGER_URL,
//   TRELLIS_ELASTICSEARCH_URL: where compose published them.
/* global fetch, AbortSignal, setTimeout */
import { test } from "node:test";
import assert from "node:assert/strict";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run .ci/compose.sh (or deploy/compose/up.sh and set it)`);
  return v.replace(/\/$/, "");
};
const edge = env("TRELLIS_EDGE_URL");
const consul = env("TRELLIS_CONSUL_URL");
const prometheus = env("TRELLIS_PROMETHEUS_URL");
const jaeger = env("TRELLIS_JAEGER_URL");
const elasticsearch = env("TRELLIS_ELASTICSEARCH_URL");

async function json(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  assert.ok(res.ok, `${init?.method ?? "GET"} ${url}: ${res.status} ${body}`);
  return JSON.parse(body);
}

/** Asks until `probe` returns a truthy value (telemetry is eventually consistent); bounded. */
async function eventually(what, probe, limitMs = 90_000) {
  const deadline = Date.now() + limitMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      assert.fail(`${what}: not within ${limitMs} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const stamp = `${Date.now()}-${process.pid}`;
let created;

test("through the edge: REST/JSON creates a user, reads it back, chat resolves the sender", async () => {
  const body = JSON.stringify({ email: `compose-${stamp}@example.com`, displayName: "Compose Check" });
  created = (await json(`${edge}/v1/users`, { method: "POST", headers: { "content-type": "application/json" }, body })).user;
  assert.match(created.id, /^[0-9a-f-]{36}$/);
  // Each read may land on either user instance: both serve the row from PostgreSQL.
  for (let i = 0; i < 6; i++) assert.equal((await json(`${edge}/v1/users/${created.id}`)).user.displayName, "Compose Check");
  const room = `compose-${stamp}`.slice(0, 60);
  const sent = await json(`${edge}/v1/rooms/${room}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ senderId: created.id, text: "hello from compose" }),
  });
  assert.equal(sent.message.senderName, "Compose Check");
  const history = await json(`${edge}/v1/rooms/${room}/messages`);
  assert.deepEqual(
    history.messages.map((m) => m.text),
    ["hello from compose"],
  );
});

test("Consul: two user instances, chat and edge registered and passing", async () => {
  for (const [service, count] of [
    ["user", 2],
    ["chat", 1],
    ["edge", 1],
  ]) {
    await eventually(
      `${count} passing ${service}`,
      async () => (await json(`${consul}/v1/health/service/${service}?passing`)).length === count,
    );
  }
});

test("Prometheus scrapes every instance, and counted the calls made above", async () => {
  await eventually("all four targets up", async () => {
    const targets = (await json(`${prometheus}/api/v1/targets`)).data.activeTargets;
    return targets.length === 4 && targets.every((t) => t.health === "up");
  });
  await eventually("CreateUser counted by user", async () => {
    const q = encodeURIComponent('sum(grpc_server_handled_total{job="user",grpc_method="CreateUser",grpc_code="OK"})');
    const r = (await json(`${prometheus}/api/v1/query?query=${q}`)).data.result;
    return r.length === 1 && Number(r[0].value[1]) >= 1;
  });
});

test("Jaeger holds the traces of edge, chat and user", async () => {
  await eventually("services in Jaeger", async () => {
    const services = (await json(`${jaeger}/api/v3/services`)).services ?? [];
    return ["edge", "chat", "user"].every((s) => services.includes(s));
  });
});

test("Elasticsearch holds the services' ECS log lines (collector reading the container logs)", async () => {
  await eventually(
    "an ECS line from user in trellis-logs-*",
    async () => {
      // A fresh line each time: the collector drops what it could not send while Elasticsearch
      // was still starting.
      await json(`${edge}/v1/users/${created.id}`);
      const res = await fetch(`${elasticsearch}/trellis-logs-*/_count?q=service.name:user`, { signal: AbortSignal.timeout(10_000) });
      return res.ok && (await res.json()).count > 0;
    },
    120_000,
  );
});
