import { createServer, type Logger, type Server } from "@trellis/kit";
import { ChatService } from "../gen/trellis/chat/v1/chat_pb.js";
import { createChatHandlers, type ChatHandlerDeps } from "./chat-handlers.js";

/** Settings of the chat service's gRPC server. */
export interface ChatServerOptions {
  readonly logger: Logger;
  /** @default 4 MiB */
  readonly maxMessageBytes?: number;
  /** @default 0 */
  readonly shutdownDelayMs?: number;
  /** @default 10_000 */
  readonly shutdownGraceMs?: number;
  /** @default 30_000 */
  readonly maxCallMs?: number;
}

/** The chat service's gRPC server: the kit's server with ChatService registered. */
export function createChatServer(deps: ChatHandlerDeps, options: ChatServerOptions): Server {
  const server = createServer({
    logger: options.logger,
    maxCallMs: options.maxCallMs ?? 30_000,
    ...(options.maxMessageBytes === undefined ? {} : { maxReceiveMessageBytes: options.maxMessageBytes, maxSendMessageBytes: options.maxMessageBytes }),
    ...(options.shutdownDelayMs === undefined ? {} : { shutdownDelayMs: options.shutdownDelayMs }),
    ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }),
  });
  server.addService(ChatService, createChatHandlers(deps));
  return server;
}
