import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "./env.js";
import { clientOptionsFrom, readClientConfig } from "./client-config.js";

describe("readClientConfig", () => {
  it("keeps the kit's client resilience on unless told otherwise", () => {
    assert.deepEqual(readClientConfig({}), { resilience: true });
    assert.deepEqual(readClientConfig({ TRELLIS_CLIENT_RESILIENCE: "on" }), { resilience: true });
  });

  it("turns it off for a mesh", () => {
    assert.deepEqual(readClientConfig({ TRELLIS_CLIENT_RESILIENCE: "off" }), { resilience: false });
  });

  it("refuses anything else with one line naming the variable", () => {
    assert.throws(
      () => readClientConfig({ TRELLIS_CLIENT_RESILIENCE: "false" }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /TRELLIS_CLIENT_RESILIENCE/);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      },
    );
  });
});

describe("clientOptionsFrom", () => {
  it("leaves the default chain alone when resilience is on", () => {
    assert.deepEqual(clientOptionsFrom({ resilience: true }), {});
  });

  it("keeps only deadline propagation when it is off", () => {
    assert.deepEqual(clientOptionsFrom({ resilience: false }), {
      resilience: { deadline: { defaultTimeoutMs: 0 }, breaker: false, retry: false },
    });
  });
});
