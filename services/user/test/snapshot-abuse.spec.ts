import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, RpcError, createClient, type Client, closeClient } from "@trellis/kit";
import { createTempDir, rpcFailure, startServiceProcess, waitFor, type ServiceProcess, type TempDir } from "@trellis/kit/testing";
import { ErrorInfoSchema, RetryInfoSchema } from "@trellis/kit/gen/google/rpc/error_details_pb.js";
import { ChangeType, UserService, type WatchUsersResponse } from "@trellis/api/trellis/user/v1/user_pb.js";
import { seedUsers } from "./seed-users.js";
import { USER_MAIN } from "./user-main.js";

const USERS = 10_000;
const MAX_SNAPSHOTS = 2;
const ownConnection = { channelOptions: { "grpc.use_local_subchannel_pool": 1 } } as const;

/** A snapshot watch that read its first event and then stopped reading (its client may be gone, or just slow). */
interface HeldWatch {
  readonly first: WatchUsersResponse;
  cancel(): void;
}

describe("user process: snapshot watches are paged, bounded, and stop when their client goes", () => {
  let dir: TempDir | undefined;
  let service: ServiceProcess;
  const clients: Client<typeof UserService>[] = [];
  const connect = (): Client<typeof UserService> => {
    const client = createClient(UserService, service.address, ownConnection);
    clients.push(client);
    return client;
  };

  /** Opens an include_snapshot watch on its own connection and reads one event. */
  const holdSnapshot = async (): Promise<HeldWatch> => {
    const controller = new AbortController();
    const iterator = connect().watchUsers({ includeSnapshot: true }, { signal: controller.signal })[Symbol.asyncIterator]();
    const next = await iterator.next();
    assert.equal(next.done, false);
    return { first: next.value as WatchUsersResponse, cancel: () => controller.abort() };
  };

  /** Reads a whole snapshot: the ids of the EXISTING users, up to SNAPSHOT_END. */
  const readSnapshot = async (client: Client<typeof UserService>): Promise<string[]> => {
    const ids: string[] = [];
    for await (const event of client.watchUsers({ includeSnapshot: true }, { timeoutMs: 60_000 })) {
      if (event.type === ChangeType.EXISTING) ids.push(event.user?.id ?? "");
      if (event.type === ChangeType.SNAPSHOT_END) return ids;
    }
    throw new Error("the watch ended before SNAPSHOT_END");
  };

  /** Whether a snapshot slot is free: a fresh snapshot watch gets its first event rather than UNAVAILABLE. */
  const slotFree = async (): Promise<boolean> => {
    try {
      (await holdSnapshot()).cancel();
      return true;
    } catch (error) {
      if (error instanceof RpcError && error.code === Code.UNAVAILABLE) return false;
      throw error;
    }
  };

  before(async () => {
    dir = createTempDir("trellis-snapshot-");
    await seedUsers(dir.path, USERS);
    service = await startServiceProcess(USER_MAIN, {
      env: { PGLITE_DATA_DIR: dir.path, WATCH_MAX_SNAPSHOTS: String(MAX_SNAPSHOTS), WATCH_SNAPSHOT_PAGE_SIZE: "200" },
    });
  });
  after(async () => {
    for (const client of clients) closeClient(client);
    await service?.stop();
    dir?.remove();
  });

  it("streams every user exactly once, in pages, then SNAPSHOT_END", async () => {
    const ids = await readSnapshot(connect());
    assert.equal(ids.length, USERS);
    assert.equal(new Set(ids).size, USERS);
  });

  it("pages ListUsers by 50 when the request says 0 and by at most 1,000 (the process' defaults)", async () => {
    const users = connect();
    const byDefault = await users.listUsers({});
    assert.equal(byDefault.users.length, 50);
    assert.notEqual(byDefault.nextPageToken, "");
    const capped = await users.listUsers({ pageSize: 5000 });
    assert.equal(capped.users.length, 1000);
    const next = await users.listUsers({ pageSize: 5000, pageToken: capped.nextPageToken });
    assert.equal(next.users[0]?.email, "seed1001@example.com", "the next page starts after the 1,000th user");
  });

  it("refuses snapshots beyond WATCH_MAX_SNAPSHOTS with UNAVAILABLE and RetryInfo, and frees a slot when its client goes", async () => {
    const held = [await holdSnapshot(), await holdSnapshot()];
    assert.ok(held.every((watch) => watch.first.type === ChangeType.EXISTING));
    const refused = await rpcFailure(holdSnapshot());
    assert.equal(refused.code, Code.UNAVAILABLE, refused.message);
    assert.ok((refused.findDetail(RetryInfoSchema)?.retryDelay?.seconds ?? 0n) >= 1n, "RetryInfo says when to retry");
    assert.equal(refused.findDetail(ErrorInfoSchema)?.reason, "SNAPSHOTS_BUSY");
    // Watches without a snapshot are not limited.
    const plain = new AbortController();
    const live = connect().watchUsers({}, { signal: plain.signal })[Symbol.asyncIterator]();
    const created = await connect().createUser({ email: "during@example.com", displayName: "During" });
    assert.equal((await live.next()).value?.user?.id, created.user?.id);
    plain.abort();

    held[0]?.cancel();
    await waitFor(slotFree, "a slot is free once one holder's client went away");
    held[1]?.cancel();
  });

  it("keeps serving another client while abandoned snapshots come and go, and its memory comes back", async (t) => {
    await waitFor(async () => (await slotFree()) && (await slotFree()), "both slots are free");
    const baseline = await service.rssBytes();
    let abusing = true;
    const prober = connect();
    const { user } = await prober.createUser({ email: "prober@example.com", displayName: "Prober" });
    const probing = (async () => {
      let served = 0;
      while (abusing) {
        assert.equal((await prober.getUser({ id: user!.id }, { timeoutMs: 30_000 })).user?.id, user?.id);
        assert.equal(await service.healthz(30_000), 200);
        served += 1;
      }
      return served;
    })();
    let refused = 0;
    const abuser = connect();
    for (let round = 0; round < 5; round += 1) {
      // 20 clients open a snapshot at once and leave after the first event.
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const controller = new AbortController();
          try {
            for await (const _ of abuser.watchUsers({ includeSnapshot: true }, { signal: controller.signal })) break;
          } catch (error) {
            if (!(error instanceof RpcError && error.code === Code.UNAVAILABLE)) throw error;
            refused += 1;
          }
        }),
      );
    }
    abusing = false;
    const served = await probing;
    t.diagnostic(`prober served ${served} times during the abuse; ${refused} of 100 abusive snapshots refused`);
    assert.ok(served >= 1);
    assert.ok(refused > 0, "the bound applied");
    await waitFor(async () => (await slotFree()) && (await slotFree()), "every slot is free again");
    const bound = 100 * 1024 * 1024;
    await waitFor(async () => (await service.rssBytes()) <= baseline + bound, `RSS back within 100 MiB of ${baseline} bytes`);
    assert.equal((await readSnapshot(prober)).length, USERS + 2);
  });
});
