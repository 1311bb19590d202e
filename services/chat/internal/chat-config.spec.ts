import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "@trellis/kit";
import { readChatConfig } from "./chat-config.js";

describe("chat config", () => {
  it("has production defaults", () => {
    assert.deepEqual(readChatConfig("static:///user", {}), {
      databaseUrl: undefined,
      pgliteDataDir: ".data/chat",
      pgliteSliceMs: 10,
      userServiceTarget: "static:///user",
    });
  });

  for (const [name, value] of [
    ["PGLITE_SLICE_MS", "-1"],
    ["PGLITE_SLICE_MS", "1.5"],
    ["USER_SERVICE_TARGET", "not a target"],
  ] as const) {
    it(`refuses ${name}=${value} with one line naming it`, () => {
      assert.throws(
        () => readChatConfig("static:///user", { [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && !error.message.includes("\n"),
      );
    });
  }
});
