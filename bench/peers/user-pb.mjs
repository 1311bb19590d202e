// The protobuf-es (v2) generated code of trellis/user/v1/user.proto, as compiled
// by `npx tsc -b` into services/user/dist, plus the dataset mapped to it. Used by
// the grpc-js-protobuf-es and connect-node peers and by check.mjs. No Trellis
// kit code is involved (the generated file only imports the kit's validate_pb
// descriptor, which the user.proto descriptor depends on).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { buildStore, ROLE_NUMBER } from "./dataset.mjs";

// A bare specifier: the API package is a workspace, resolved through node_modules.
const GEN = "@trellis/api/trellis/user/v1/user_pb.js";

let gen;
try {
  gen = await import(GEN);
} catch (err) {
  console.error(`cannot load ${GEN} (${err.message}); run \`npm run build\` first`);
  process.exit(1);
}
export const pb = gen;

/** One dataset user as a protobuf-es trellis.user.v1.User message. */
export function toPbUser(u) {
  return create(gen.UserSchema, {
    id: u.id,
    email: u.email,
    displayName: u.displayName,
    roles: u.roles.map((r) => ROLE_NUMBER[r]),
    etag: u.etag,
    createTime: create(TimestampSchema, { seconds: BigInt(u.seconds), nanos: 0 }),
    updateTime: create(TimestampSchema, { seconds: BigInt(u.seconds), nanos: 0 }),
  });
}

/** The dataset as protobuf-es messages, built once. */
export function pbStore() {
  return buildStore(toPbUser);
}

/**
 * A @grpc/grpc-js ServiceDefinition (server or client side) for a protobuf-es
 * GenService, with toBinary/fromBinary as the (de)serializers. Keys are the
 * methods' localName (getUser, listUsers, ...).
 */
export function grpcServiceDefinition(service) {
  const def = {};
  for (const m of service.methods) {
    def[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (msg) => Buffer.from(toBinary(m.input, msg)),
      requestDeserialize: (buf) => fromBinary(m.input, buf),
      responseSerialize: (msg) => Buffer.from(toBinary(m.output, msg)),
      responseDeserialize: (buf) => fromBinary(m.output, buf),
      originalName: m.localName,
    };
  }
  return def;
}
