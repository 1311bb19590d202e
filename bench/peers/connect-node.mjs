// Peer: @connectrpc/connect-node v2 (connectNodeAdapter) on node:http2
// (h2c, prior knowledge), routes from the protobuf-es generated UserService.
// Serves the gRPC protocol the benchmark uses; Connect and gRPC-Web stay enabled
// (the adapter's defaults). Methods without a handler answer UNIMPLEMENTED.
//   node bench/peers/connect-node.mjs --port <n>
import { setTimeout } from "node:timers";
import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { parsePort, ready } from "./dataset.mjs";
import { pb, pbStore } from "./user-pb.mjs";

const { UserService, ChangeType } = pb;
const store = pbStore();

const impl = {
  getUser(req) {
    const user = store.get(req.id);
    if (!user) throw new ConnectError(`user ${req.id} not found`, Code.NotFound);
    return { user };
  },
  listUsers(req) {
    const page = store.page(req.pageSize, req.pageToken);
    if (!page) throw new ConnectError("bad page_token", Code.InvalidArgument);
    return { users: page.items, nextPageToken: page.nextPageToken };
  },
  async *watchUsers(req) {
    if (req.includeSnapshot) {
      for (const user of store.list) yield { type: ChangeType.EXISTING, user };
      yield { type: ChangeType.SNAPSHOT_END };
    }
  },
  // createUser, updateUser, deleteUser, importUsers: not given → UNIMPLEMENTED.
};

const handler = connectNodeAdapter({
  routes(router) {
    router.service(UserService, impl);
  },
});

const server = http2.createServer(handler);
server.listen(parsePort(), "127.0.0.1", () => ready(server.address().port));

process.once("SIGTERM", () => {
  // close() waits for open sessions (clients keep theirs): give them a moment.
  setTimeout(() => process.exit(0), 1000).unref();
  server.close(() => process.exit(0));
});
