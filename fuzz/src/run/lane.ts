import { connectGrpc, type GrpcConnection } from "../wire/grpc-call.js";
import type { FuzzWorld } from "./fuzz-world.js";
import type { ServiceName } from "./methods.js";

/** One of the run's concurrent sequences of cases: its own connections and call numbering. */
export interface Lane {
  readonly id: number;
  readonly world: FuzzWorld;
  /** The lane's shared HTTP/2 connection to a service (reopened when the server closed it). */
  connection(service: ServiceName): GrpcConnection;
  /** A fresh id for a call ("L2.117"), sent as x-request-id so log lines can be traced to the case. */
  nextCallId(): string;
  close(): void;
}

/** Lane `id` of `world`. */
export function createLane(id: number, world: FuzzWorld): Lane {
  const connections = new Map<ServiceName, GrpcConnection>();
  let calls = 0;
  return {
    id,
    world,
    connection(service) {
      let connection = connections.get(service);
      if (connection === undefined) {
        connection = connectGrpc(service === "user" ? world.stack.user.address : world.stack.chat.address);
        connections.set(service, connection);
      }
      return connection;
    },
    nextCallId: () => `fuzz-L${id}.${++calls}`,
    close() {
      for (const connection of connections.values()) connection.close();
      connections.clear();
    },
  };
}
