import { createServer, type Logger, type Server } from "@trellis/kit";
import { UserService } from "../gen/trellis/user/v1/user_pb.js";
import { createUserHandlers, type UserHandlerDeps } from "./user-handlers.js";

/** Settings of the user service's gRPC server. */
export interface UserServerOptions {
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

/** The user service's gRPC server: the kit's server with UserService registered. */
export function createUserServer(deps: UserHandlerDeps, options: UserServerOptions): Server {
  const server = createServer({
    logger: options.logger,
    maxCallMs: options.maxCallMs ?? 30_000,
    ...(options.maxMessageBytes === undefined ? {} : { maxReceiveMessageBytes: options.maxMessageBytes, maxSendMessageBytes: options.maxMessageBytes }),
    ...(options.shutdownDelayMs === undefined ? {} : { shutdownDelayMs: options.shutdownDelayMs }),
    ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }),
  });
  server.addService(UserService, createUserHandlers(deps));
  return server;
}
