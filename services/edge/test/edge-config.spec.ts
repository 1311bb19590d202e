import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "@trellis/kit/config";
import { DEFAULT_CSP, readEdgeConfig } from "../internal/edge-config.js";

// The defaults the README's edge "Configure" table promises, written out: a default that
// changes must change the README with it.
describe("edge configuration", () => {
  it("has the documented defaults", () => {
    assert.deepEqual(readEdgeConfig({}), {
      httpPort: 8080,
      corsOrigins: [],
      maxBodyBytes: 4 * 1024 * 1024,
      maxCalls: 2000,
      maxStreams: 1000,
      maxConnections: 10_000,
      maxStreamsPerConnection: 100,
      bodyTimeoutMs: 10_000,
      writeStallMs: 30_000,
      maxTimeoutMs: 300_000,
      idleTimeoutMs: 120_000,
      routes: undefined,
      webDir: undefined,
      csp: DEFAULT_CSP,
    });
  });

  it("reads origins and routes, and refuses malformed values with an error naming the variable", () => {
    const config = readEdgeConfig({
      EDGE_CORS_ORIGINS: "https://App.example.com/, http://localhost:5173",
      EDGE_ROUTES: "trellis.user.v1.UserService=users-v2",
    });
    assert.deepEqual(config.corsOrigins, ["https://app.example.com", "http://localhost:5173"]);
    assert.deepEqual([...(config.routes ?? [])], [["trellis.user.v1.UserService", "users-v2"]]);
    assert.equal(readEdgeConfig({ EDGE_CORS_ORIGINS: "*" }).corsOrigins, "*");
    for (const [name, value] of [
      ["EDGE_CORS_ORIGINS", "app.example.com"],
      ["EDGE_ROUTES", "UserService"],
      ["EDGE_PORT", "http"],
      ["EDGE_MAX_BODY_BYTES", "10"],
      ["EDGE_CSP", "default-src 'self'\r\nx: y"],
    ] as const) {
      assert.throws(
        () => readEdgeConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.message.startsWith(name),
        `${name}=${JSON.stringify(value)}`,
      );
    }
  });
});
