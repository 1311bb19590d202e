import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

/** The typed clients the app calls, generated from the services' .proto files. */
export interface Clients {
  readonly users: Client<typeof UserService>;
  readonly chat: Client<typeof ChatService>;
}

/** Clients for both services over one transport (one protocol, one origin). */
export function createClients(transport: Transport): Clients {
  return { users: createClient(UserService, transport), chat: createClient(ChatService, transport) };
}
