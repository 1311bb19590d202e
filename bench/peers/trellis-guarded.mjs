// The Trellis user peer (same code and dataset as trellis-user.mjs) with the security links
// runService would add, switched by the same variables a service reads: TLS (TRELLIS_TLS_*),
// bearer tokens and the user service's authorization rules (TRELLIS_AUTH_*), rate limits
// (TRELLIS_RATE_LIMIT*) and load shedding (TRELLIS_SHED*). For the bench's security scenario.
import { createLogger } from "@trellis/kit";
import { readAuthConfig, readRateLimitConfig, readSheddingConfig, readTelemetryConfig, readTlsConfig } from "@trellis/kit/config";
import { defaultServerInterceptors } from "@trellis/kit/interceptors";
import { startLoadProtection, startTelemetry } from "@trellis/kit/lifecycle";
import { startAuth, startTls } from "../../packages/kit/dist/lifecycle/security.js";
import { createUserServer } from "../../services/user/dist/internal/server.js";
import { createChangeFeed } from "../../services/user/dist/internal/change-feed.js";
import { userAuthorization } from "../../services/user/dist/internal/user-authorization.js";
import { createMemoryUserRepository } from "../../services/user/dist/repository/memory-user-repository.js";
import { users } from "./dataset.mjs";
import { logDestination } from "./trellis-log.mjs";

const ROLE = { ROLE_MEMBER: 1, ROLE_MODERATOR: 2, ROLE_ADMIN: 3 };
const seed = users.map((u) => ({
  id: u.id,
  email: u.email,
  displayName: u.displayName,
  roles: u.roles.map((r) => ROLE[r]),
  version: 1,
  createTime: new Date(u.seconds * 1000),
  updateTime: new Date(u.seconds * 1000),
}));

const i = process.argv.indexOf("--port");
const port = Number(process.argv[i + 1]);
if (i < 0 || !Number.isInteger(port)) throw new Error("usage: trellis-guarded.mjs --port <n>");

const env = process.env;
const telemetryConfig = readTelemetryConfig(env, false);
const logger = createLogger({
  level: env.LOG_LEVEL ?? "info",
  serviceName: "user",
  destination: logDestination(env.BENCH_LOG_NAME ?? "trellis-guarded"),
});
const telemetry = await startTelemetry(telemetryConfig, { serviceName: "user", logger });
const tls = await startTls(readTlsConfig("user", env), { serviceName: "user", logger, metrics: undefined });
const auth = startAuth(readAuthConfig(env), {
  logger,
  metrics: undefined,
  rules: [userAuthorization],
  mtls: tls.server !== undefined && tls.server.clientAuth !== "none",
});
const protection = startLoadProtection(readRateLimitConfig(env), readSheddingConfig(env), {
  logger,
  metrics: telemetryConfig.metrics ? telemetry.registry : undefined,
});
const repository = createMemoryUserRepository({ seed });
const feed = createChangeFeed(repository);
const interceptors = [
  ...telemetry.interceptors,
  ...defaultServerInterceptors({
    logger,
    logSuccessSampleRate: telemetryConfig.logSuccessSampleRate,
    guards: [...auth.authentication, ...(protection.rateLimit ? [protection.rateLimit] : []), ...auth.authorization],
  }),
];
const server = createUserServer(
  { repository, feed },
  {
    logger,
    interceptors,
    grpcMetrics: telemetry.grpc,
    ...(tls.server ? { tls: tls.server } : {}),
    ...(protection.shedding ? { shedding: protection.shedding } : {}),
  },
);
const bound = await server.listen({ host: "127.0.0.1", port });
process.stdout.write(`READY ${bound.port}\n`);
process.on("SIGTERM", () => {
  server
    .shutdown()
    .then(() => feed.close())
    .then(() => protection.close())
    .then(() => tls.close())
    .then(() => telemetry.shutdown())
    .then(() => process.exit(0));
});
