/**
 * The chat service process: config → repository → user client → handlers → server.
 * Configured only by the environment (see the README's "chat service" section).
 */
import {
  ConfigError,
  createRegistryFromUrl,
  readDiscoveryConfig,
  registerWhileServing,
  createClient,
  createLogger,
  defaultClientInterceptors,
  readConfig,
  readServerConfig,
  serverOptionsFrom,
  serviceTarget,
  shutdownOnSignals,
  optionalUrl,
  text,
} from "@trellis/kit";
import { UserService } from "@trellis/user/gen/trellis/user/v1/user_pb.js";
import { createRoomHub } from "./internal/room-hub.js";
import { createChatServer } from "./internal/server.js";
import { createUserDirectory } from "./internal/user-directory.js";
import { openChatRepository } from "./repository/open-chat-repository.js";

async function main(): Promise<void> {
  let server;
  let own;
  let discovery;
  try {
    discovery = readDiscoveryConfig();
    server = readServerConfig({ grpcPort: 50052, adminPort: 9092 });
    own = readConfig({
      DATABASE_URL: optionalUrl(["postgres", "postgresql"]),
      PGLITE_DATA_DIR: text({ default: ".data/chat" }),
      USER_SERVICE_TARGET: text({
        default: serviceTarget(discovery, "user", 50051),
        pattern: /^[\w.+-]+:\/\/\/?[^\s]*$|^[^\s/]+:\d+$/,
        expected: "a gRPC target such as etcd:///user or dns:///user:50051",
      }),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`chat: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: server.logLevel, serviceName: "chat" });
  const repository = await openChatRepository({
    ...(own.DATABASE_URL === undefined ? {} : { databaseUrl: own.DATABASE_URL }),
    pgliteDataDir: own.PGLITE_DATA_DIR,
  });
  const hub = createRoomHub(repository);
  const registry = await createRegistryFromUrl(discovery.registryUrl, { staticServices: discovery.staticServices });
  const users = createClient(UserService, own.USER_SERVICE_TARGET, { interceptors: defaultClientInterceptors(), discovery: registry });
  const grpcServer = createChatServer(
    { repository, hub, users: createUserDirectory(users) },
    { logger, ...serverOptionsFrom(server) },
  );
  // Installed before "listening" is announced (see the user service's main).
  shutdownOnSignals(
    async () => {
      await grpcServer.shutdown();
      await registry.close();
      hub.close();
      users.close();
      await repository.close();
    },
    { logger },
  );
  const bound = await grpcServer.listen({ host: server.host, port: server.grpcPort, adminPort: server.adminPort });
  const instance = await registerWhileServing(grpcServer, { registry, service: "chat", host: discovery.advertiseHost, port: bound.port });
  const shownHost = bound.host === "0.0.0.0" || bound.host === "::" ? "localhost" : bound.host;
  logger.info(
    {
      "server.address": bound.host,
      "server.port": bound.port,
      "admin.port": bound.adminPort,
      "db.system": own.DATABASE_URL === undefined ? "pglite" : "postgresql",
      "user_service.target": own.USER_SERVICE_TARGET,
      "registry.kind": discovery.registry.kind,
      "service.instance.id": instance.id,
    },
    `chat service listening on ${shownHost}:${bound.port} (gRPC), admin on http://${shownHost}:${bound.adminPort}; users from ${own.USER_SERVICE_TARGET}`,
  );
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`chat: failed to start: ${message}\n`);
  process.exit(1);
});
