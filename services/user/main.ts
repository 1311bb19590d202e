/**
 * The user service process: its resources and its one gRPC service; the kit's
 * runService does the rest (configuration, signals, registration, ordered
 * shutdown). Configured only by the environment (the README's "user service").
 */
import { runService } from "@trellis/kit";
import { createSqlMetrics } from "@trellis/sql";
import { UserService } from "@trellis/api/trellis/user/v1/user_pb.js";
import { createChangeFeed } from "./internal/change-feed.js";
import { registerChangeFeedLag } from "./internal/change-feed-metrics.js";
import { createSnapshotLimiter } from "./internal/snapshot-limiter.js";
import { readUserConfig } from "./internal/user-config.js";
import { userAuthorization } from "./internal/user-authorization.js";
import { createUserHandlers } from "./internal/user-handlers.js";
import { openUserRepository } from "./repository/open-user-repository.js";

runService({
  name: "user",
  authorization: [userAuthorization],
  ports: { grpc: 50051, admin: 9091 },
  config: readUserConfig,
  async start({ config, server, own, metrics, tracer }) {
    const repository = own(
      await openUserRepository({
        ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }),
        pgliteDataDir: config.pgliteDataDir,
        pgliteSliceMs: config.pgliteSliceMs,
        telemetry: { metrics: metrics && createSqlMetrics(metrics), tracer },
      }),
      (r) => r.close(),
    );
    const feed = own(createChangeFeed(repository), (f) => f.close());
    if (metrics !== undefined) registerChangeFeedLag(metrics, feed);
    const snapshots = createSnapshotLimiter({ maxConcurrent: config.watchMaxSnapshots, maxHoldMs: config.watchSnapshotMaxMs });
    server.addService(UserService, createUserHandlers({ repository, feed, snapshots, snapshotPageSize: config.watchSnapshotPageSize }));
    return {
      "db.system": config.databaseUrl === undefined ? "pglite" : "postgresql",
      "db.location": config.databaseUrl === undefined ? config.pgliteDataDir : "DATABASE_URL",
    };
  },
});
