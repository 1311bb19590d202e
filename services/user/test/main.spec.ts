import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, createClient, closeClient, type Client } from "@trellis/kit";
import {
  createTempDir,
  rpcFailure,
  runServiceToExit,
  startServiceProcess,
  waitFor,
  type ServiceExit,
  type ServiceProcess,
  type TempDir,
} from "@trellis/kit/testing";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { UserService, type ImportUsersRequestSchema } from "@trellis/api/trellis/user/v1/user_pb.js";
import { USER_MAIN } from "./user-main.js";

type ImportRow = MessageInitShape<typeof ImportUsersRequestSchema>;

/** A request stream the test feeds row by row. */
function rowFeed(): { push(row: ImportRow): void; end(): void; rows: AsyncIterable<ImportRow> } {
  const queued: ImportRow[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  return {
    push: (row) => void (queued.push(row), notify()),
    end: () => void ((ended = true), notify()),
    rows: (async function* () {
      for (;;) {
        const row = queued.shift();
        if (row !== undefined) yield row;
        else if (ended) return;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    })(),
  };
}

/** Whether the process logged that its shutdown began. */
const shuttingDown = (service: ServiceProcess): boolean => service.logs.some((l) => l["event.action"] === "shutdown-start");

describe("user process: configuration refused at start", () => {
  const cases = [
    ["GRPC_PORT", "http", /^user: GRPC_PORT must be an integer from 0 to 65535 \(got "http"\)\n$/],
    ["DATABASE_URL", "mysql://db/users", /^user: DATABASE_URL must use the scheme postgres or postgresql \(got "mysql"\)\n$/],
    ["LOG_LEVEL", "chatty", /^user: LOG_LEVEL must be one of .* \(got "chatty"\)\n$/],
    ["PGLITE_SLICE_MS", "-5", /^user: PGLITE_SLICE_MS must be an integer from 0 to 1000 \(got "-5"\)\n$/],
    ["WATCH_MAX_SNAPSHOTS", "0", /^user: WATCH_MAX_SNAPSHOTS must be an integer from 1 to 1000 \(got "0"\)\n$/],
  ] as const;
  // The processes run side by side (each only loads its modules and checks its environment):
  // on a busy machine that takes a fraction of running them one after another.
  let exits: Map<string, ServiceExit>;
  const unreachable = { DATABASE_URL: "postgres://nobody:x@127.0.0.1:1/none" };
  before(async () => {
    const runs = [...cases.map(([name, value]) => [name, { [name]: value }] as const), ["unreachable", unreachable] as const];
    exits = new Map(await Promise.all(runs.map(async ([key, env]) => [key, await runServiceToExit(USER_MAIN, { env })] as const)));
  });

  for (const [name, , pattern] of cases) {
    it(`exits 2 with one line naming ${name} when it is malformed`, () => {
      const { code, stderr } = exits.get(name)!;
      assert.equal(code, 2);
      assert.match(stderr, pattern);
    });
  }

  it("exits 1 with one clear line when the database is unreachable", () => {
    const { code, stderr } = exits.get("unreachable")!;
    assert.equal(code, 1);
    assert.match(stderr, /^user: failed to start: .+\n$/);
  });
});

// One data folder, two starts: what the first process stored, the second one serves.
describe("user process: serving, draining and restarting on an embedded data folder", () => {
  let dir: TempDir;
  let first: ServiceProcess | undefined;
  let second: ServiceProcess | undefined;
  let kept: string;

  before(() => {
    dir = createTempDir("trellis-user-");
  });
  after(async () => {
    await first?.stop();
    await second?.stop();
    dir.remove();
  });

  it("serves, and on SIGTERM lets the import in flight finish before it exits 0", async () => {
    first = await startServiceProcess(USER_MAIN, { env: { PGLITE_DATA_DIR: dir.path } });
    const users: Client<typeof UserService> = createClient(UserService, first.address);
    try {
      kept = (await users.createUser({ email: "kept@example.com", displayName: "Kept" })).user!.id;
      const feed = rowFeed();
      const importing = users.importUsers(feed.rows, { timeoutMs: 60_000 });
      feed.push({ email: "drain0@example.com", displayName: "Drain 0" });
      await waitFor(async () => (await users.listUsers({ query: "drain" })).users.length === 1, "the first imported row is stored");
      first.kill("SIGTERM");
      await waitFor(() => shuttingDown(first!), "the process logged the start of its shutdown");
      feed.push({ email: "drain1@example.com", displayName: "Drain 1" });
      feed.push({ email: "drain2@example.com", displayName: "Drain 2" });
      feed.end();
      const summary = await importing;
      assert.equal(summary.createdCount, 3, "rows sent after SIGTERM were still imported");
      assert.equal(await first.exited, 0);
    } finally {
      closeClient(users);
    }
  });

  it("keeps embedded data in PGLITE_DATA_DIR across restarts", async () => {
    second = await startServiceProcess(USER_MAIN, { env: { PGLITE_DATA_DIR: dir.path, SHUTDOWN_DELAY_MS: "30000" } });
    const users = createClient(UserService, second.address);
    try {
      assert.equal((await users.getUser({ id: kept })).user?.email, "kept@example.com");
      assert.deepEqual(
        (await users.listUsers({ query: "drain" })).users.map((u) => u.displayName),
        ["Drain 0", "Drain 1", "Drain 2"],
      );
      const again = await rpcFailure(users.createUser({ email: "kept@example.com", displayName: "Again" }));
      assert.equal(again.code, Code.ALREADY_EXISTS);
    } finally {
      closeClient(users);
    }
  });

  it("answers /readyz 503 during SHUTDOWN_DELAY_MS, and exits at once with 130 on a second signal", async () => {
    assert.ok(second, "the restarted process runs");
    assert.equal(await second.readyz(), 200);
    second.kill("SIGTERM");
    await waitFor(() => shuttingDown(second!), "the process logged the start of its shutdown");
    assert.equal(await second.readyz(), 503);
    second.kill("SIGTERM");
    assert.equal(await second.exited, 130);
  });
});
