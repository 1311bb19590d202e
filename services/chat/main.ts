/**
 * The chat service process: its resources, its client of the user service and
 * its one gRPC service; the kit's runService does the rest (configuration,
 * signals, registration, ordered shutdown). Configured only by the
 * environment (the README's "chat service").
 */
import { runService } from "@trellis/kit";
import { createSqlMetrics } from "@trellis/sql";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { createChatHandlers } from "./internal/chat-handlers.js";
import { readChatConfig } from "./internal/chat-config.js";
import { chatAuthorization } from "./internal/chat-authorization.js";
import { createRoomHub } from "./internal/room-hub.js";
import { createUserDirectory } from "./internal/user-directory.js";
import { openChatRepository } from "./repository/open-chat-repository.js";

runService({
  name: "chat",
  authorization: [chatAuthorization],
  ports: { grpc: 50052, admin: 9092 },
  config: readChatConfig,
  async start({ config, server, own, client, metrics, tracer }) {
    const repository = own(
      await openChatRepository({
        ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }),
        pgliteDataDir: config.pgliteDataDir,
        pgliteSliceMs: config.pgliteSliceMs,
        telemetry: { metrics: metrics && createSqlMetrics(metrics), tracer },
      }),
      (r) => r.close(),
    );
    const hub = own(createRoomHub(repository), (h) => h.close());
    // USER_SERVICE_TARGET overrides the registry's target for user.
    const users = createUserDirectory(client(UserService, "user", { defaultPort: 50051 }));
    server.addService(ChatService, createChatHandlers({ repository, hub, users }));
    return { "db.system": config.databaseUrl === undefined ? "pglite" : "postgresql" };
  },
});
