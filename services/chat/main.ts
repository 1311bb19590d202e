/**
 * The chat service process: config → repository → user client → handlers → server.
 * Configured only by the environment (see the README's "chat service" section).
 */
import {
  announceListening,
  configOrExit,
  runMain,
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
  const { discovery, server, own } = configOrExit("chat", () => {
    const discovery = readDiscoveryConfig();
    return {
      discovery,
      server: readServerConfig({ grpcPort: 50052, adminPort: 9092 }),
      own: readConfig({
        DATABASE_URL: optionalUrl(["postgres", "postgresql"]),
        PGLITE_DATA_DIR: text({ default: ".data/chat" }),
        USER_SERVICE_TARGET: text({
          default: serviceTarget(discovery, "user", 50051),
          pattern: /^[\w.+-]+:\/\/\/?[^\s]*$|^[^\s/]+:\d+$/,
          expected: "a gRPC target such as etcd:///user or dns:///user:50051",
        }),
      }),
    };
  });
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
  announceListening(
    logger,
    "chat",
    bound,
    {
      "db.system": own.DATABASE_URL === undefined ? "pglite" : "postgresql",
      "user_service.target": own.USER_SERVICE_TARGET,
      "registry.kind": discovery.registry.kind,
      "service.instance.id": instance.id,
    },
    `; users from ${own.USER_SERVICE_TARGET}`,
  );
}

runMain("chat", main);
