import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "@trellis/kit";
import { readUserConfig } from "./user-config.js";

describe("user config", () => {
  it("has production defaults", () => {
    assert.deepEqual(readUserConfig({}), { databaseUrl: undefined, pgliteDataDir: ".data/user", pgliteSliceMs: 10 });
  });

  it("reads each variable", () => {
    const config = readUserConfig({ DATABASE_URL: "postgres://u@db/users", PGLITE_DATA_DIR: "memory://", PGLITE_SLICE_MS: "0" });
    assert.deepEqual(config, { databaseUrl: "postgres://u@db/users", pgliteDataDir: "memory://", pgliteSliceMs: 0 });
  });

  for (const [name, value] of [
    ["PGLITE_SLICE_MS", "-1"],
    ["PGLITE_SLICE_MS", "soon"],
    ["PGLITE_SLICE_MS", "5000"],
  ] as const) {
    it(`refuses ${name}=${value} with one line naming it`, () => {
      assert.throws(
        () => readUserConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && !error.message.includes("\n") && error.message.startsWith(name),
      );
    });
  }
});
