import { HealthImplementation } from "grpc-health-check";
import type { Server } from "@grpc/grpc-js";

/** Serving status per grpc.health.v1. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

/** The server's grpc.health.v1 state: `Check` and `Watch` for "" and each service. */
export interface HealthStatus {
  /** Sets one service's status ("" is the whole server). */
  set(service: string, status: ServingStatus): void;
  /** Sets "" and every known service. */
  setAll(status: ServingStatus): void;
  get(service: string): ServingStatus | undefined;
}

/**
 * grpc.health.v1 backed by grpc-health-check (the grpc-node team's
 * implementation, with Watch streaming). Everything starts NOT_SERVING; the
 * server flips to SERVING once it listens.
 */
export function createHealth(server: Server): HealthStatus {
  const statuses = new Map<string, ServingStatus>([["", "NOT_SERVING"]]);
  const implementation = new HealthImplementation({ "": "NOT_SERVING" });
  implementation.addToServer(server);
  const set = (service: string, status: ServingStatus): void => {
    statuses.set(service, status);
    implementation.setStatus(service, status);
  };
  return {
    set,
    setAll: (status) => {
      for (const service of statuses.keys()) set(service, status);
    },
    get: (service) => statuses.get(service),
  };
}
