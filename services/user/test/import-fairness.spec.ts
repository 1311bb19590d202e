import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createClient, type Client, closeClient } from "@trellis/kit";
import { ChangeType, UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { startServiceProcess, type ServiceProcess } from "@trellis/kit/testing";
import { USER_MAIN } from "./user-main.js";

const ROWS = 4_000;
/**
 * The most import rows that may commit between two consecutive requests of another client.
 * With the embedded database yielding every 10 ms it is a few dozen (a few hundred on a busy
 * machine); before, a client waited for the whole burst of rows the server had read (one
 * HTTP/2 window, ~1,300 rows) and /healthz with it.
 */
const MAX_ROWS_BETWEEN_PROBES = 500;
const ownConnection = { channelOptions: { "grpc.use_local_subchannel_pool": 1 } } as const;

describe("user process: one fast importer does not take the service away from other clients", () => {
  let service: ServiceProcess;
  let prober: Client<typeof UserService>;
  let importer: Client<typeof UserService>;

  before(async () => {
    // The import is one long call: on a busy machine it can outlast the default 30 s cap
    // (GRPC_MAX_CALL_MS), which is not what this test is about.
    service = await startServiceProcess(USER_MAIN, { env: { GRPC_MAX_CALL_MS: "0" } });
    prober = createClient(UserService, service.address, ownConnection);
    importer = createClient(UserService, service.address, ownConnection);
  });
  after(async () => {
    closeClient(prober);
    closeClient(importer);
    await service?.stop();
  });

  it("serves another connection's writes and /healthz between every few hundred imported rows", async (t) => {
    let start = "";
    for await (const event of prober.watchUsers({ includeSnapshot: true })) {
      if (event.type === ChangeType.SNAPSHOT_END) {
        start = event.resumeToken;
        break;
      }
    }

    let importing = true;
    const imported = importer
      .importUsers(
        (async function* () {
          for (let i = 0; i < ROWS; i += 1) yield { email: `bulk${i}@example.com`, displayName: `Bulk ${i}` };
        })(),
        { timeoutMs: 120_000 },
      )
      .finally(() => (importing = false));
    // The well-behaved client: one write, one liveness check, again, until the import ends.
    let probes = 0;
    while (importing) {
      await prober.createUser({ email: `probe${probes}@example.com`, displayName: `Probe ${probes}` }, { timeoutMs: 60_000 });
      assert.equal(await service.healthz(60_000), 200);
      probes += 1;
    }
    const summary = await imported;
    assert.equal(summary.createdCount, ROWS);

    // The change log's commit order says how much import work ran between two probes.
    const gaps: number[] = [];
    let rowsSinceProbe = 0;
    let seen = 0;
    for await (const event of prober.watchUsers({ resumeToken: start }, { timeoutMs: 60_000 })) {
      if (event.user?.email.startsWith("probe") === true) {
        gaps.push(rowsSinceProbe);
        rowsSinceProbe = 0;
      } else {
        rowsSinceProbe += 1;
      }
      seen += 1;
      if (seen === ROWS + probes) break;
    }
    const between = gaps.slice(1); // before the first probe, the import had a head start
    const worst = Math.max(0, ...between);
    t.diagnostic(`${probes} probes during the import; import rows between two probes: at most ${worst}`);
    assert.ok(probes >= 5, `only ${probes} probes ran during the import`);
    assert.ok(worst <= MAX_ROWS_BETWEEN_PROBES, `${worst} import rows committed between two probes (all gaps: ${between.join(" ")})`);
  });
});
