import { existsSync } from "node:fs";
import { openSqlExecutor, type InstrumentExecutorOptions } from "@trellis/sql";
import type { UserRepository } from "../internal/user-repository.js";
import { createSqlUserRepository, type SqlUserRepositoryOptions } from "./sql-user-repository.js";

/** Where the user service keeps its data. */
export interface UserRepositoryConfig {
  /** Postgres connection string; when set, Postgres is used and `pgliteDataDir` ignored. */
  readonly databaseUrl?: string;
  /** Embedded PGlite data folder (created if missing), or `memory://` for in-memory. */
  readonly pgliteDataDir: string;
  /** Embedded PGlite only: how long its statements may hold the thread before others get a turn. @default 10 */
  readonly pgliteSliceMs?: number;
  /** Metrics and spans of its statements (`instrumentExecutor`'s options). @default none */
  readonly telemetry?: InstrumentExecutorOptions;
}

/**
 * The migrations folder: `migrations/` beside the compiled module when a build
 * copied it there (container images), else the source folder.
 */
export function userMigrationsDir(): URL {
  const beside = new URL("./migrations/", import.meta.url);
  return existsSync(beside) ? beside : new URL("../../repository/migrations/", import.meta.url);
}

/**
 * Opens the repository the config names, applies pending migrations, and returns it. The
 * caller owns it: `close()` releases the database.
 */
export async function openUserRepository(config: UserRepositoryConfig, options: SqlUserRepositoryOptions = {}): Promise<UserRepository> {
  const executor = await openSqlExecutor({
    ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }),
    pgliteDataDir: config.pgliteDataDir,
    ...(config.pgliteSliceMs === undefined ? {} : { pgliteSliceMs: config.pgliteSliceMs }),
    migrationsDir: userMigrationsDir(),
    namespace: "user",
    ...(config.telemetry === undefined ? {} : { telemetry: config.telemetry }),
  });
  return createSqlUserRepository(executor, options);
}
