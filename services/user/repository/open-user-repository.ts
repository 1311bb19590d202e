import type { UserRepository } from "../internal/user-repository.js";
import { migrate } from "./migrate.js";
import { createPgExecutor } from "./pg-executor.js";
import { openPgliteExecutor } from "./pglite-executor.js";
import { createSqlUserRepository } from "./sql-user-repository.js";
import type { SqlUserRepositoryOptions } from "./sql-user-repository.js";

/** Where the user repository stores its data. */
export interface UserRepositoryConfig {
  /** Postgres connection string; when set, Postgres is used and `pgliteDataDir` ignored. */
  readonly databaseUrl?: string;
  /** Embedded PGlite data folder (created if missing), or `memory://` for in-memory. */
  readonly pgliteDataDir: string;
}

/**
 * Opens the repository the config names, applies pending migrations, and returns it. The
 * caller owns it: `close()` releases the database.
 */
export async function openUserRepository(
  config: UserRepositoryConfig,
  options: SqlUserRepositoryOptions = {},
): Promise<UserRepository> {
  const executor = config.databaseUrl
    ? createPgExecutor({ connectionString: config.databaseUrl })
    : await openPgliteExecutor(config.pgliteDataDir);
  try {
    await migrate(executor);
  } catch (error) {
    await executor.close().catch(() => {});
    throw error;
  }
  return createSqlUserRepository(executor, options);
}
