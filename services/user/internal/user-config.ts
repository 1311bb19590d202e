import { integer, optionalUrl, readConfig, text, type Env } from "@trellis/kit";

/**
 * The user service's own environment (the kit's server and discovery variables are read by the
 * kit). A malformed value throws a ConfigError naming the variable; `configOrExit` turns it
 * into one line on stderr and exit code 2.
 */
export function readUserConfig(env: Env = process.env) {
  const config = readConfig(
    {
      DATABASE_URL: optionalUrl(["postgres", "postgresql"]),
      PGLITE_DATA_DIR: text({ default: ".data/user" }),
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

/** What {@link readUserConfig} returns. */
export type UserConfig = ReturnType<typeof readUserConfig>;
