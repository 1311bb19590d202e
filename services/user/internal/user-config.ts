import { integer, optionalUrl, readConfig, text, type Env } from "@trellis/kit/config";

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
      WATCH_MAX_SNAPSHOTS: integer({ default: 4, min: 1, max: 1000 }),
      WATCH_SNAPSHOT_PAGE_SIZE: integer({ default: 500, min: 1, max: 10_000 }),
      WATCH_SNAPSHOT_MAX_MS: integer({ default: 120_000, min: 0, max: 3_600_000 }),
    },
    env,
  );
  return {
    /** PostgreSQL when set, else the embedded PGlite. */
    databaseUrl: config.DATABASE_URL,
    pgliteDataDir: config.PGLITE_DATA_DIR,
    /** How long embedded-database work may hold the thread before others get a turn. */
    pgliteSliceMs: config.PGLITE_SLICE_MS,
    /** include_snapshot watches read at once; beyond, UNAVAILABLE with RetryInfo. */
    watchMaxSnapshots: config.WATCH_MAX_SNAPSHOTS,
    /** Users per snapshot read: what one snapshot holds in memory. */
    watchSnapshotPageSize: config.WATCH_SNAPSHOT_PAGE_SIZE,
    /** How long a snapshot may hold its slot (0: no limit); beyond, RESOURCE_EXHAUSTED. */
    watchSnapshotMaxMs: config.WATCH_SNAPSHOT_MAX_MS,
  } as const;
}

/** What {@link readUserConfig} returns. */
export type UserConfig = ReturnType<typeof readUserConfig>;
