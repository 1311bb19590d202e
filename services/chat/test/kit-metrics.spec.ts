import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code, closeClient, createClient } from "@trellis/kit";
import { rpcFailure, startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { CHAT_MAIN, USER_MAIN } from "./service-mains.js";

/** One scrape of a process' /metrics: `name{labels}` → value (label order as served). */
async function scrape(service: ServiceProcess): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${service.adminPort}/metrics`);
  assert.equal(response.status, 200);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)/.exec(line);
    if (match !== null) series.set(match[1]!, Number(match[2]));
  }
  return series;
}

/** The sum of every series of `name` whose labels include each of `having` (`key="value"`). */
function sum(series: Map<string, number>, name: string, ...having: string[]): number {
  let total = 0;
  for (const [key, value] of series) {
    if ((key === name || key.startsWith(`${name}{`)) && having.every((label) => key.includes(label))) total += value;
  }
  return total;
}

describe("a running user and chat expose the kit's own metrics at /metrics", () => {
  let user: ServiceProcess;
  let chat: ServiceProcess;
  before(async () => {
    user = await startServiceProcess(USER_MAIN);
    // Chat finds user through the static registry, as `npm start` runs them.
    chat = await startServiceProcess(CHAT_MAIN, { env: { TRELLIS_STATIC_SERVICES: `user=${user.address}` } });
  });
  after(async () => {
    await chat?.stop();
    await user?.stop();
  });

  it("counts chat's calls to user (breaker, retries, picks, registry) and both services' statements, pool and feed", async () => {
    const users = createClient(UserService, user.address);
    const rooms = createClient(ChatService, chat.address);
    try {
      const { user: ada } = await users.createUser({ email: `${randomUUID()}@example.com`, displayName: "Ada" });
      assert.ok(ada);
      for (let i = 0; i < 3; i++) await rooms.send({ room: "metrics", senderId: ada.id, text: `hello ${i}` });
      // An unknown sender: user answers NOT_FOUND, which is no failure of user's.
      assert.equal(
        (await rpcFailure(rooms.send({ room: "metrics", senderId: randomUUID(), text: "who?" }))).code,
        Code.FAILED_PRECONDITION,
      );

      const c = await scrape(chat);
      const target = 'target="static:///user"';
      const attempts = sum(c, "trellis_retry_attempts_total", target);
      assert.ok(attempts >= 2, `chat looked both senders up (${attempts} attempts)`);
      assert.equal(sum(c, "trellis_retry_retries_total", target), 0);
      assert.equal(sum(c, "trellis_retry_budget_exhausted_total", target), 0);
      assert.equal(
        sum(c, "trellis_balancer_picks_total", target, `endpoint="${user.address}"`),
        attempts,
        "every attempt went to the one user instance",
      );
      assert.equal(
        sum(c, "grpc_client_started_total", 'grpc_service="trellis.user.v1.UserService"'),
        attempts,
        "no retries: one attempt per call",
      );
      assert.equal(sum(c, "trellis_breaker_state", target), 0, "every breaker closed");
      assert.equal(sum(c, "trellis_breaker_rejections_total", target), 0);
      assert.ok(
        [...c.keys()].some((key) => key.startsWith("trellis_breaker_state{") && key.includes(target)),
        "a breaker series per method called",
      );
      assert.equal(sum(c, "trellis_registry_instances", 'service="user"'), 1);
      assert.ok(sum(c, "trellis_db_query_duration_seconds_count", 'db_system="pglite"', 'operation="insert"') >= 3, "the three messages");
      assert.equal(sum(c, "trellis_db_pool_size", 'db_system="pglite"'), 1);

      const u = await scrape(user);
      assert.ok(sum(u, "trellis_db_query_duration_seconds_count", 'db_system="pglite"', 'operation="insert"') >= 1, "the created user");
      assert.ok(sum(u, "trellis_db_query_duration_seconds_count", 'db_system="pglite"', 'operation="commit"') >= 1);
      assert.equal(sum(u, "trellis_db_pool_size", 'db_system="pglite"'), 1);
      assert.equal(sum(u, "trellis_change_feed_lag"), 0, "no watch");
      assert.ok(u.has("trellis_change_feed_lag"));
    } finally {
      closeClient(users);
      closeClient(rooms);
    }
  });
});
