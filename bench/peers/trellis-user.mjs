// Trellis' user service as a benchmark peer: the real service code
// (createUserServer: the kit's server with its full default interceptor chain —
// logging every call, recover, deadline cap, validation — and the compiled
// codec) over the shared in-memory dataset, with the telemetry runService sets
// up, configured by the same variables (TRELLIS_METRICS, OTEL_*,
// LOG_SUCCESS_SAMPLE). Access logs go to a file under bench/results/tmp so they
// cost what they cost in production (a write per line) without flooding the
// harness' pipes.
import { createLogger } from "@trellis/kit";
import { readTelemetryConfig } from "@trellis/kit/config";
import { defaultServerInterceptors } from "@trellis/kit/interceptors";
import { startTelemetry } from "@trellis/kit/lifecycle";
import { createUserServer } from "../../services/user/dist/internal/server.js";
import { createChangeFeed } from "../../services/user/dist/internal/change-feed.js";
import { createMemoryUserRepository } from "../../services/user/dist/repository/memory-user-repository.js";
import { users } from "./dataset.mjs";
import { logDestination } from "./trellis-log.mjs";

const ROLE = { ROLE_MEMBER: 1, ROLE_MODERATOR: 2, ROLE_ADMIN: 3 };

function seedRecords() {
  return users.map((u) => ({
    id: u.id,
    email: u.email,
    displayName: u.displayName,
    roles: u.roles.map((r) => ROLE[r]),
    version: 1,
    createTime: new Date(u.seconds * 1000),
    updateTime: new Date(u.seconds * 1000),
  }));
}

function portArg() {
  const i = process.argv.indexOf("--port");
  const port = Number(process.argv[i + 1]);
  if (i < 0 || !Number.isInteger(port)) throw new Error("usage: trellis-user.mjs --port <n>");
  return port;
}

const config = readTelemetryConfig(process.env, false);
const repository = createMemoryUserRepository({ seed: seedRecords() });
const feed = createChangeFeed(repository);
const logger = createLogger({
  level: process.env.LOG_LEVEL ?? "info",
  serviceName: "user",
  destination: logDestination(process.env.BENCH_LOG_NAME ?? "trellis-user"),
});
const telemetry = await startTelemetry(config, { serviceName: "user", logger });
const interceptors = [
  ...telemetry.interceptors,
  ...defaultServerInterceptors({ logger, logSuccessSampleRate: config.logSuccessSampleRate, traceIds: telemetry.tracer !== undefined }),
];
const server = createUserServer({ repository, feed }, { logger, interceptors, grpcMetrics: telemetry.grpc });
const bound = await server.listen({ host: "127.0.0.1", port: portArg() });
process.stdout.write(`READY ${bound.port}\n`);
process.on("SIGTERM", () => {
  server
    .shutdown()
    .then(() => feed.close())
    .then(() => telemetry.shutdown())
    .then(() => process.exit(0));
});
