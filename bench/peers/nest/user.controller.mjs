// The NestJS gRPC controller, decorated without a TypeScript build: the
// decorator factories are applied with Reflect.decorate (what tsc emits for
// legacy decorators). Messages are proto-loader plain objects (keepCase, enums
// and int64 as strings), exactly as in the grpc-js-proto-loader peer.
import "reflect-metadata";
import { Controller } from "@nestjs/common";
import { GrpcMethod, GrpcStatus, RpcException } from "@nestjs/microservices";
import { from } from "rxjs";
import { buildStore } from "../dataset.mjs";

const store = buildStore((u) => ({
  id: u.id,
  email: u.email,
  display_name: u.displayName,
  roles: [...u.roles],
  etag: u.etag,
  create_time: { seconds: String(u.seconds), nanos: 0 },
  update_time: { seconds: String(u.seconds), nanos: 0 },
}));

export class UserController {
  getUser(request) {
    const user = store.get(request.id);
    // The classic Nest way: RpcException carrying a gRPC {code, message}.
    if (!user) throw new RpcException({ code: GrpcStatus.NOT_FOUND, message: `user ${request.id} not found` });
    return { user };
  }

  listUsers(request) {
    const page = store.page(request.page_size, request.page_token);
    if (!page) throw new RpcException({ code: GrpcStatus.INVALID_ARGUMENT, message: "bad page_token" });
    return { users: page.items, next_page_token: page.nextPageToken };
  }

  // Server streaming: Nest writes every value of the returned Observable, then ends.
  watchUsers(request) {
    const out = [];
    if (request.include_snapshot) {
      for (const user of store.list) out.push({ type: "CHANGE_TYPE_EXISTING", user });
      out.push({ type: "CHANGE_TYPE_SNAPSHOT_END" });
    }
    return from(out);
  }
  // CreateUser, UpdateUser, DeleteUser, ImportUsers: no handler, so Nest does
  // not register them and grpc-js answers UNIMPLEMENTED.
}

/** `@GrpcMethod(service, rpc)` on a method, the way tsc's __decorate applies it. */
function decorateMethod(cls, key, decorator) {
  const proto = cls.prototype;
  Reflect.decorate([decorator], proto, key, Object.getOwnPropertyDescriptor(proto, key));
}
decorateMethod(UserController, "getUser", GrpcMethod("UserService", "GetUser"));
decorateMethod(UserController, "listUsers", GrpcMethod("UserService", "ListUsers"));
decorateMethod(UserController, "watchUsers", GrpcMethod("UserService", "WatchUsers"));
Reflect.decorate([Controller()], UserController);
