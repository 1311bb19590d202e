import { integer, optionalUrl, readConfig, text, type Env } from "@trellis/kit";

/**
 * The chat service's own environment (the kit's server and discovery variables are read by the
 * kit). `userServiceTarget` is the default of USER_SERVICE_TARGET: the registry's target for
 * user. A malformed value throws a ConfigError naming the variable.
 */
export function readChatConfig(userServiceTarget: string, env: Env = process.env) {
  const config = readConfig(
    {
      DATABASE_URL: optionalUrl(["postgres", "postgresql"]),
      PGLITE_DATA_DIR: text({ default: ".data/chat" }),
      PGLITE_SLICE_MS: integer({ default: 10, min: 0, max: 1000 }),
      USER_SERVICE_TARGET: text({
        default: userServiceTarget,
        pattern: /^[\w.+-]+:\/\/\/?[^\s]*$|^[^\s/]+:\d+$/,
        expected: "a gRPC target such as etcd:///user or dns:///user:50051",
      }),
    },
    env,
  );
  return {
    /** PostgreSQL when set, else the embedded PGlite. */
    databaseUrl: config.DATABASE_URL,
    pgliteDataDir: config.PGLITE_DATA_DIR,
    /** How long embedded-database work may hold the thread before others get a turn. */
    pgliteSliceMs: config.PGLITE_SLICE_MS,
    userServiceTarget: config.USER_SERVICE_TARGET,
  } as const;
}

/** What {@link readChatConfig} returns. */
export type ChatConfig = ReturnType<typeof readChatConfig>;
