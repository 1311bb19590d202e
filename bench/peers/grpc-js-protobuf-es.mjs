// Peer: bare @grpc/grpc-js server with protobuf-es (v2) messages from the
// compiled generated code (services/user/dist/gen/.../user_pb.js); the grpc-js
// service definition is derived from the GenService descriptor and the
// (de)serializers are protobuf-es toBinary/fromBinary. No Trellis kit: this
// separates the kit's interceptor-chain overhead from the codec cost.
//   node bench/peers/grpc-js-protobuf-es.mjs --port <n>
import { clearTimeout, setTimeout } from "node:timers";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { parsePort, ready } from "./dataset.mjs";
import { grpcServiceDefinition, pb, pbStore } from "./user-pb.mjs";

const { UserService, ChangeType } = pb;
const store = pbStore();

const unimplemented = (name) => (call, callback) => {
  const err = { code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented by this peer` };
  if (callback) callback(err);
  else call.emit("error", err);
};

const R = UserService.method;
const handlers = {
  getUser(call, callback) {
    const user = store.get(call.request.id);
    if (!user) return callback({ code: grpc.status.NOT_FOUND, details: `user ${call.request.id} not found` });
    callback(null, create(R.getUser.output, { user }));
  },
  listUsers(call, callback) {
    const page = store.page(call.request.pageSize, call.request.pageToken);
    if (!page) return callback({ code: grpc.status.INVALID_ARGUMENT, details: "bad page_token" });
    callback(null, create(R.listUsers.output, { users: page.items, nextPageToken: page.nextPageToken }));
  },
  watchUsers(call) {
    if (call.request.includeSnapshot) {
      for (const user of store.list) call.write(create(R.watchUsers.output, { type: ChangeType.EXISTING, user }));
      call.write(create(R.watchUsers.output, { type: ChangeType.SNAPSHOT_END }));
    }
    call.end();
  },
  createUser: unimplemented("CreateUser"),
  updateUser: unimplemented("UpdateUser"),
  deleteUser: unimplemented("DeleteUser"),
  importUsers: unimplemented("ImportUsers"),
};

const server = new grpc.Server();
server.addService(grpcServiceDefinition(UserService), handlers);
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
