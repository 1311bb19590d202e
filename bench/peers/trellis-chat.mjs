// Trellis' chat service as a benchmark peer, for the bidi ping-pong and
// service-to-service scenarios: the real handlers and server (full default
// chain), an in-memory chat repository (so the numbers are about gRPC, not a
// database), and a user client with the production client chain (deadline,
// breaker, retry, p2c_ewma) to the Trellis user peer. The user cache is made to
// expire at once so every Send really calls the user service.
import { closeClient, createClient, createLogger } from "@trellis/kit";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createChatServer } from "../../services/chat/dist/internal/server.js";
import { createRoomHub } from "../../services/chat/dist/internal/room-hub.js";
import { createUserDirectory } from "../../services/chat/dist/internal/user-directory.js";
import { createMemoryChatRepository } from "../../services/chat/dist/repository/memory-chat-repository.js";
import { logDestination } from "./trellis-log.mjs";

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || process.argv[i + 1] === undefined) throw new Error("usage: trellis-chat.mjs --port <n> --user-target <host:port>");
  return process.argv[i + 1];
}

const repository = createMemoryChatRepository();
const hub = createRoomHub(repository);
const users = createClient(UserService, `static:///${arg("--user-target")}`);
const directory = createUserDirectory(users, { ttlMs: 1 });
const logger = createLogger({ level: process.env.LOG_LEVEL ?? "info", serviceName: "chat", destination: logDestination("trellis-chat") });
const server = createChatServer({ repository, hub, users: directory }, { logger });
const bound = await server.listen({ host: "127.0.0.1", port: Number(arg("--port")) });
process.stdout.write(`READY ${bound.port}\n`);
process.on("SIGTERM", () => {
  server.shutdown().then(() => {
    closeClient(users);
    hub.close();
    process.exit(0);
  });
});
