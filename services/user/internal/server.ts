import { createServer, type Server, type ServerOptions } from "@trellis/kit";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createUserHandlers, type UserHandlerDeps } from "./user-handlers.js";

/** The user service's gRPC server: the kit's server (options from the environment via `serverOptionsFrom`) with UserService registered. */
export function createUserServer(deps: UserHandlerDeps, options: ServerOptions): Server {
  const server = createServer(options);
  server.addService(UserService, createUserHandlers(deps));
  return server;
}
