// Peer: bare @grpc/grpc-js server, messages via @grpc/proto-loader (protobufjs
// underneath), with the options of the grpc-node examples. The baseline most
// grpc-js users run.
//   node bench/peers/grpc-js-proto-loader.mjs --port <n>
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { buildStore, parsePort, ready } from "./dataset.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const packageDefinition = protoLoader.loadSync("trellis/user/v1/user.proto", {
  includeDirs: [root + "packages/api/proto", root + "packages/kit/proto"],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const proto = grpc.loadPackageDefinition(packageDefinition);
const UserService = proto.trellis.user.v1.UserService;

// Plain objects in proto-loader's shape (keepCase, int64 as string, enums as names).
const store = buildStore((u) => ({
  id: u.id,
  email: u.email,
  display_name: u.displayName,
  roles: [...u.roles],
  etag: u.etag,
  create_time: { seconds: String(u.seconds), nanos: 0 },
  update_time: { seconds: String(u.seconds), nanos: 0 },
}));

const unimplemented = (name) => (call, callback) => {
  const err = { code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented by this peer` };
  if (callback) callback(err);
  else call.emit("error", err);
};

const handlers = {
  GetUser(call, callback) {
    const user = store.get(call.request.id);
    if (!user) return callback({ code: grpc.status.NOT_FOUND, details: `user ${call.request.id} not found` });
    callback(null, { user });
  },
  ListUsers(call, callback) {
    const page = store.page(call.request.page_size, call.request.page_token);
    if (!page) return callback({ code: grpc.status.INVALID_ARGUMENT, details: "bad page_token" });
    callback(null, { users: page.items, next_page_token: page.nextPageToken });
  },
  WatchUsers(call) {
    if (call.request.include_snapshot) {
      for (const user of store.list) call.write({ type: "CHANGE_TYPE_EXISTING", user });
      call.write({ type: "CHANGE_TYPE_SNAPSHOT_END" });
    }
    call.end();
  },
  CreateUser: unimplemented("CreateUser"),
  UpdateUser: unimplemented("UpdateUser"),
  DeleteUser: unimplemented("DeleteUser"),
  ImportUsers: unimplemented("ImportUsers"),
};

const server = new grpc.Server();
server.addService(UserService.service, handlers);
server.bindAsync(`127.0.0.1:${parsePort()}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  ready(port);
});

process.once("SIGTERM", () => {
  const force = setTimeout(() => server.forceShutdown(), 2000);
  server.tryShutdown(() => {
    clearTimeout(force);
    process.exit(0);
  });
});
