import type { DescMethod } from "@bufbuild/protobuf";

/** `package.Service/Method`: the gRPC path without its leading slash, as logs and metrics name a method. */
export function methodName(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}
