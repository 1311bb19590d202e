import { defineRules } from "@trellis/kit/security";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";

/**
 * Who may call the chat service (see the README's Security section): only the
 * edge, under mTLS, and an authenticated user when tokens are verified. Send
 * names its sender, who must be the caller (or an administrator). A Chat
 * stream names its user in its first message, which a rule cannot read: the
 * rule asks for an authenticated user.
 */
export const chatAuthorization = defineRules(ChatService, {
  chat: [{ peers: ["edge"], user: "authenticated" }],
  subscribe: [{ peers: ["edge"], user: "authenticated" }],
  send: [{ peers: ["edge"], user: { self: (request) => request.senderId, orRole: ["admin"] } }],
  history: [{ peers: ["edge"], user: "authenticated" }],
});
