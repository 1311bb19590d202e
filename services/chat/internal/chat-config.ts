import { integer, optionalUrl, readConfig, text, type Env } from "@trellis/kit/config";

/**
 * The chat service's own environment (the kit reads the server and discovery variables, and
 * USER_SERVICE_TARGET for its client of user). A malformed value throws a ConfigError naming
 * the variable.
 */
export function readChatConfig(env: Env = process.env) {
  const config = readConfig(
    {
      DATABASE_URL: optionalUrl(["postgres", "postgresql"]),
      PGLITE_DATA_DIR: text({ default: ".data/chat" }),
      PGLITE_SLICE_MS: integer({ default: 10, min: 0, max: 1000 }),
    },
    env,
  );
  return {
    /** PostgreSQL when set, else the embedded PGlite. */
    databaseUrl: config.DATABASE_URL,
    pgliteDataDir: config.PGLITE_DATA_DIR,
    /** How long embedded-database work may hold the thread before others get a turn. */
    pgliteSliceMs: config.PGLITE_SLICE_MS,
  } as const;
}

/** What {@link readChatConfig} returns. */
export type ChatConfig = ReturnType<typeof readChatConfig>;
