import { existsSync } from "node:fs";
import { openSqlExecutor, type InstrumentExecutorOptions } from "@trellis/sql";
import type { ChatRepository } from "../internal/chat-repository.js";
import { createSqlChatRepository } from "./sql-chat-repository.js";

/** Where the chat service keeps its data. */
export interface ChatRepositoryConfig {
  /** Postgres connection string; when set, Postgres is used and `pgliteDataDir` ignored. */
  readonly databaseUrl?: string;
  /** Embedded PGlite data folder, or `memory://`. */
  readonly pgliteDataDir: string;
  /** Embedded PGlite only: how long its statements may hold the thread before others get a turn. @default 10 */
  readonly pgliteSliceMs?: number;
  /** Metrics and spans of its statements (`instrumentExecutor`'s options). @default none */
  readonly telemetry?: InstrumentExecutorOptions;
}

/** The migrations folder (beside the compiled module in images, else the source folder). */
export function chatMigrationsDir(): URL {
  const beside = new URL("./migrations/", import.meta.url);
  return existsSync(beside) ? beside : new URL("../../repository/migrations/", import.meta.url);
}

/** Opens the configured database, applies pending migrations, and returns the repository. */
export async function openChatRepository(config: ChatRepositoryConfig): Promise<ChatRepository> {
  const executor = await openSqlExecutor({
    ...(config.databaseUrl === undefined ? {} : { databaseUrl: config.databaseUrl }),
    pgliteDataDir: config.pgliteDataDir,
    ...(config.pgliteSliceMs === undefined ? {} : { pgliteSliceMs: config.pgliteSliceMs }),
    migrationsDir: chatMigrationsDir(),
    namespace: "chat",
    ...(config.telemetry === undefined ? {} : { telemetry: config.telemetry }),
  });
  return createSqlChatRepository(executor);
}
