import { createServer, type Server, type ServerOptions } from "@trellis/kit";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { createChatHandlers, type ChatHandlerDeps } from "./chat-handlers.js";

/** The chat service's gRPC server: the kit's server (options from the environment via `serverOptionsFrom`) with ChatService registered. */
export function createChatServer(deps: ChatHandlerDeps, options: ServerOptions): Server {
  const server = createServer(options);
  server.addService(ChatService, createChatHandlers(deps));
  return server;
}
