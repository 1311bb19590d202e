/** The server's parts beyond `createServer`: limits, health, the admin port. */
export {
  createServer,
  type Server,
  type ServerOptions,
  type ServerShedding,
  type ListenAddress,
  type BoundPorts,
} from "./create-server.js";
export { defaultServerLimits, openFileLimit, type ServerLimits } from "./server-limits.js";
export type { ConnectionGuardStats } from "./connection-guard.js";
export type { HealthStatus, ServingStatus } from "./health.js";
export type { AdminServer, AdminRoute } from "./admin-server.js";
export type { ServiceImpl, MethodImpl } from "./service-impl.js";
