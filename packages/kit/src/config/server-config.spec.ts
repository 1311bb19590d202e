import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { defaultServerLimits, openFileLimit } from "../server/server-limits.js";
import { LIMIT_VARIABLES, readServerConfig, readServerLimits, serverOptionsFrom } from "./server-config.js";

describe("server limits from the environment", () => {
  it("keeps every default when nothing is set", () => {
    assert.deepEqual(readServerLimits({}), defaultServerLimits());
  });

  it("reads each limit from its own GRPC_* variable", () => {
    const env = Object.fromEntries(Object.values(LIMIT_VARIABLES).map((v, i) => [v.name, String(i + 1)]));
    const limits = readServerLimits(env);
    Object.keys(LIMIT_VARIABLES).forEach((key, i) => assert.equal(limits[key as keyof typeof limits], i + 1, key));
  });

  it("passes them to createServer through serverOptionsFrom", () => {
    const config = readServerConfig({ grpcPort: 1, adminPort: 2 }, { GRPC_MAX_CONNECTIONS_PER_ADDRESS: "7" });
    assert.equal(serverOptionsFrom(config).limits.maxConnectionsPerAddress, 7);
  });

  it("are each documented in the README's Limits and protections table", () => {
    const readme = readFileSync(new URL("../../../../README.md", import.meta.url), "utf8");
    const section = readme.slice(
      readme.indexOf("## Limits and protections"),
      readme.indexOf("## ", readme.indexOf("## Limits and protections") + 3),
    );
    for (const { name } of Object.values(LIMIT_VARIABLES))
      assert.ok(section.includes(`\`${name}\``), `${name} is not in the README's table`);
  });

  it("refuses a malformed value with one line naming the variable", () => {
    assert.throws(() => readServerLimits({ GRPC_REQUEST_TIMEOUT_MS: "soon" }), {
      name: "ConfigError",
      message: 'GRPC_REQUEST_TIMEOUT_MS must be an integer from 0 to 3600000 (got "soon")',
    });
    assert.throws(() => readServerLimits({ GRPC_MAX_CONCURRENT_STREAMS: "0" }), {
      message: /GRPC_MAX_CONCURRENT_STREAMS must be an integer from 1/,
    });
  });
});

describe("defaultServerLimits", () => {
  it("leaves a quarter of the open-file limit free of connections", () => {
    assert.equal(defaultServerLimits(256).maxConnections, 192);
    assert.equal(defaultServerLimits(1_048_576).maxConnections, 10_000);
    assert.equal(defaultServerLimits(undefined).maxConnections, 10_000);
  });

  it("reads the soft open-file limit from /proc/self/limits", () => {
    const limits =
      "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
    assert.equal(
      openFileLimit(() => limits),
      1024,
    );
    assert.equal(
      openFileLimit(() => "Max open files            unlimited            unlimited            files\n"),
      undefined,
    );
    assert.equal(
      openFileLimit(() => {
        throw new Error("ENOENT");
      }),
      undefined,
    );
  });
});
