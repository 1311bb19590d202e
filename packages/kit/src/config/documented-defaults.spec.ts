import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { STATUS_LIMITS } from "../errors/status-details.js";
import { defaultServerLimits } from "../server/server-limits.js";
import { readServerConfig } from "./server-config.js";

// The values the README promises (the services' "Configure" tables and "Limits and
// protections"), written out: a default that changes must change the README with it.
describe("server defaults, as the README documents them", () => {
  it("reads the server's environment with the documented defaults", () => {
    const { limits, ...config } = readServerConfig({ grpcPort: 50051, adminPort: 9091 }, {});
    assert.deepEqual(config, {
      host: "0.0.0.0",
      grpcPort: 50051,
      adminPort: 9091,
      logLevel: "info",
      shutdownDelayMs: 0,
      shutdownGraceMs: 10_000,
      maxMessageBytes: 4 * 1024 * 1024,
      maxCallMs: 30_000,
    });
    assert.deepEqual(limits, defaultServerLimits());
  });

  it("has the documented transport limits", () => {
    assert.deepEqual(defaultServerLimits(1_048_576), {
      maxConnections: 10_000, // ¾ of the open-file limit, at most 10,000
      maxConnectionsPerAddress: 100,
      prefaceTimeoutMs: 10_000,
      maxConcurrentStreams: 1000,
      maxConcurrentCalls: 10_000,
      requestTimeoutMs: 10_000,
      maxResetsPerWindow: 200,
      resetWindowMs: 10_000,
      keepaliveTimeMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      minPingIntervalMs: 10_000,
      idleTimeoutMs: 5 * 60_000,
      maxConnectionAgeMs: 30 * 60_000,
      maxConnectionAgeGraceMs: 5 * 60_000,
      maxWriteStallMs: 30_000,
    });
    assert.equal(defaultServerLimits(256).maxConnections, 192, "192 at a limit of 256");
  });

  it("keeps a status within the documented sizes (message 1 KiB, details 3 KiB)", () => {
    assert.deepEqual({ ...STATUS_LIMITS }, { messageBytes: 1024, detailsBytes: 3072 });
  });
});
