import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { ChatService } from "@trellis/api/trellis/chat/v1/chat_pb.js";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";

/** Which process serves a method. */
export type ServiceName = "user" | "chat";

/** One RPC the fuzzer calls, from the generated descriptors. */
export interface FuzzMethod {
  /** "UserService/GetUser": how cases and reports name it. */
  readonly name: string;
  readonly service: ServiceName;
  readonly desc: DescMethod;
  /** "/trellis.user.v1.UserService/GetUser". */
  readonly path: string;
  readonly kind: DescMethod["methodKind"];
}

const SERVICES: readonly (readonly [ServiceName, DescService])[] = [
  ["user", UserService],
  ["chat", ChatService],
];

/** Every method of every service under test, in descriptor order. */
export const FUZZ_METHODS: readonly FuzzMethod[] = SERVICES.flatMap(([service, desc]) =>
  desc.methods.map((method) => ({
    name: `${desc.name}/${method.name}`,
    service,
    desc: method,
    path: `/${desc.typeName}/${method.name}`,
    kind: method.methodKind,
  })),
);

/** The method called `name` ("UserService/GetUser"). */
export function methodNamed(name: string): FuzzMethod {
  const method = FUZZ_METHODS.find((m) => m.name === name);
  if (method === undefined) throw new Error(`no method ${name}`);
  return method;
}

/** Whether `path` is the path of a method some service under test implements. */
export function isKnownPath(path: string): boolean {
  return FUZZ_METHODS.some((m) => m.path === path);
}
