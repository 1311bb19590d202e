import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "@trellis/kit/config";
import { readUserConfig } from "./user-config.js";

describe("user config", () => {
  it("has production defaults", () => {
    assert.deepEqual(readUserConfig({}), {
      databaseUrl: undefined,
      pgliteDataDir: ".data/user",
      pgliteSliceMs: 10,
      watchMaxSnapshots: 4,
      watchSnapshotPageSize: 500,
      watchSnapshotMaxMs: 120_000,
    });
  });

  it("reads each variable", () => {
    const config = readUserConfig({
      DATABASE_URL: "postgres://u@db/users",
      PGLITE_DATA_DIR: "memory://",
      PGLITE_SLICE_MS: "0",
      WATCH_MAX_SNAPSHOTS: "1",
      WATCH_SNAPSHOT_PAGE_SIZE: "100",
      WATCH_SNAPSHOT_MAX_MS: "0",
    });
    assert.deepEqual(config, {
      databaseUrl: "postgres://u@db/users",
      pgliteDataDir: "memory://",
      pgliteSliceMs: 0,
      watchMaxSnapshots: 1,
      watchSnapshotPageSize: 100,
      watchSnapshotMaxMs: 0,
    });
  });

  for (const [name, value] of [
    ["PGLITE_SLICE_MS", "-1"],
    ["PGLITE_SLICE_MS", "soon"],
    ["PGLITE_SLICE_MS", "5000"],
    ["WATCH_MAX_SNAPSHOTS", "0"],
    ["WATCH_MAX_SNAPSHOTS", "many"],
    ["WATCH_SNAPSHOT_PAGE_SIZE", "0"],
    ["WATCH_SNAPSHOT_PAGE_SIZE", "20000"],
    ["WATCH_SNAPSHOT_MAX_MS", "-1"],
  ] as const) {
    it(`refuses ${name}=${value} with one line naming it`, () => {
      assert.throws(
        () => readUserConfig({ [name]: value }),
        (error: unknown) =>
          error instanceof ConfigError && error.variable === name && !error.message.includes("\n") && error.message.startsWith(name),
      );
    });
  }
});
