import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, optionalUrl, readConfig } from "./env.js";
import { readServerConfig } from "./server-config.js";

describe("readServerConfig", () => {
  it("uses the service's defaults when nothing is set", () => {
    const config = readServerConfig({ grpcPort: 50051, adminPort: 9091 }, {});
    assert.equal(config.grpcPort, 50051);
    assert.equal(config.adminPort, 9091);
    assert.equal(config.logLevel, "info");
  });

  it("accepts port 0 (pick a free port)", () => {
    assert.equal(readServerConfig({ grpcPort: 50051, adminPort: 9091 }, { GRPC_PORT: "0" }).grpcPort, 0);
  });

  for (const [name, value, expected] of [
    ["GRPC_PORT", "http", /^GRPC_PORT must be an integer from 0 to 65535 \(got "http"\)$/],
    ["ADMIN_PORT", "70000", /^ADMIN_PORT must be an integer from 0 to 65535/],
    ["LOG_LEVEL", "loud", /^LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent \(got "loud"\)$/],
    ["SHUTDOWN_GRACE_MS", "-1", /^SHUTDOWN_GRACE_MS must be an integer/],
  ] as const) {
    it(`rejects ${name}=${value} with one line naming the variable`, () => {
      assert.throws(
        () => readServerConfig({ grpcPort: 1, adminPort: 2 }, { [name]: value }),
        (error: unknown) =>
          error instanceof ConfigError && error.variable === name && expected.test(error.message) && !error.message.includes("\n"),
      );
    });
  }

  it("checks URL schemes", () => {
    const spec = { DATABASE_URL: optionalUrl(["postgres", "postgresql"]) };
    assert.equal(readConfig(spec, {}).DATABASE_URL, undefined);
    assert.throws(
      () => readConfig(spec, { DATABASE_URL: "mysql://x" }),
      /DATABASE_URL must use the scheme postgres or postgresql \(got "mysql"\)/,
    );
  });
});
