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
  registryOptionsFrom,
  discoveryFor,
  registerWhileServing,
  createClient,
  createLogger,
  defaultClientInterceptors,
  readServerConfig,
  serverOptionsFrom,
  serviceTarget,
  shutdownOnSignals,
} from "@trellis/kit";
import { UserService } from "@trellis/user/gen/trellis/user/v1/user_pb.js";
import { readChatConfig } from "./internal/chat-config.js";
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
      own: readChatConfig(serviceTarget(discovery, "user", 50051)),
    };
  });
  const logger = createLogger({ level: server.logLevel, serviceName: "chat" });
  const repository = await openChatRepository({
    ...(own.databaseUrl === undefined ? {} : { databaseUrl: own.databaseUrl }),
    pgliteDataDir: own.pgliteDataDir,
    pgliteSliceMs: own.pgliteSliceMs,
  });
  const hub = createRoomHub(repository);
  const registry = await createRegistryFromUrl(discovery.registryUrl, registryOptionsFrom(discovery));
  const users = createClient(UserService, own.userServiceTarget, {
    interceptors: defaultClientInterceptors(),
    discovery: discoveryFor(own.userServiceTarget, registry, discovery),
  });
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
      "db.system": own.databaseUrl === undefined ? "pglite" : "postgresql",
      "user_service.target": own.userServiceTarget,
      "registry.kind": discovery.registry.kind,
      "service.instance.id": instance.id,
    },
    `; users from ${own.userServiceTarget}`,
  );
}

runMain("chat", main);
