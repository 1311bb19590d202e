/**
 * The user service process: config → repository → handlers → server.
 * Configured only by the environment (see the README's "user service" section).
 */
import {
  announceListening,
  configOrExit,
  runMain,
  createLogger,
  createRegistryFromUrl,
  readDiscoveryConfig,
  registryOptionsFrom,
  readServerConfig,
  serverOptionsFrom,
  registerWhileServing,
  shutdownOnSignals,
} from "@trellis/kit";
import { createChangeFeed } from "./internal/change-feed.js";
import { createUserServer } from "./internal/server.js";
import { createSnapshotLimiter } from "./internal/snapshot-limiter.js";
import { readUserConfig } from "./internal/user-config.js";
import { openUserRepository } from "./repository/open-user-repository.js";

async function main(): Promise<void> {
  const { discovery, server, own } = configOrExit("user", () => {
    const discovery = readDiscoveryConfig();
    return {
      discovery,
      server: readServerConfig({ grpcPort: 50051, adminPort: 9091 }),
      own: readUserConfig(),
    };
  });
  const logger = createLogger({ level: server.logLevel, serviceName: "user" });
  const repository = await openUserRepository({
    ...(own.databaseUrl === undefined ? {} : { databaseUrl: own.databaseUrl }),
    pgliteDataDir: own.pgliteDataDir,
    pgliteSliceMs: own.pgliteSliceMs,
  });
  const feed = createChangeFeed(repository);
  const registry = await createRegistryFromUrl(discovery.registryUrl, registryOptionsFrom(discovery));
  const snapshots = createSnapshotLimiter({ maxConcurrent: own.watchMaxSnapshots, maxHoldMs: own.watchSnapshotMaxMs });
  const grpcServer = createUserServer(
    { repository, feed, snapshots, snapshotPageSize: own.watchSnapshotPageSize },
    { logger, ...serverOptionsFrom(server) },
  );
  // Installed before "listening" is announced: a SIGTERM that arrives before a
  // handler exists would kill the process outright instead of draining it.
  shutdownOnSignals(
    async () => {
      await grpcServer.shutdown();
      await registry.close();
      await feed.close();
      await repository.close();
    },
    { logger },
  );
  const bound = await grpcServer.listen({ host: server.host, port: server.grpcPort, adminPort: server.adminPort });
  const instance = await registerWhileServing(grpcServer, { registry, service: "user", host: discovery.advertiseHost, port: bound.port });
  announceListening(
    logger,
    "user",
    bound,
    {
      "db.system": own.databaseUrl === undefined ? "pglite" : "postgresql",
      "db.location": own.databaseUrl === undefined ? own.pgliteDataDir : "DATABASE_URL",
      "registry.kind": discovery.registry.kind,
      "service.instance.id": instance.id,
    },
  );
}

runMain("user", main);
