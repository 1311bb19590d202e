/**
 * A service run by runService, for run-service.spec: it owns two resources
 * that log when they close, a client of itself, and fails to start when
 * FIXTURE_FAIL is set (after owning the first resource).
 */
import { EchoService } from "../gen-test/trellis/kittest/v1/echo_pb.js";
import { createEchoHandlers } from "../testing/echo-service.js";
import { runService } from "./run-service.js";

runService({
  name: "echo",
  ports: { grpc: 0, admin: 0 },
  config: (env) => ({ fail: env["FIXTURE_FAIL"] !== undefined }),
  async start({ config, server, own, client, logger }) {
    own("first", (name) => logger.info({ "fixture.closed": name }, `closed ${name}`));
    if (config.fail) throw new Error("the fixture was told to fail");
    own("second", (name) => logger.info({ "fixture.closed": name }, `closed ${name}`));
    client(EchoService, "echo", { defaultPort: 1 });
    server.addService(EchoService, createEchoHandlers());
    return { "fixture.field": "present" };
  },
});
