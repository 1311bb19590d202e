import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "@trellis/kit/config";
import { readChatConfig } from "./chat-config.js";

describe("chat config", () => {
  it("has production defaults", () => {
    assert.deepEqual(readChatConfig({}), {
      databaseUrl: undefined,
      pgliteDataDir: ".data/chat",
      pgliteSliceMs: 10,
    });
  });

  for (const [name, value] of [
    ["PGLITE_SLICE_MS", "-1"],
    ["PGLITE_SLICE_MS", "1.5"],
  ] as const) {
    it(`refuses ${name}=${value} with one line naming it`, () => {
      assert.throws(
        () => readChatConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && !error.message.includes("\n"),
      );
    });
  }
});
