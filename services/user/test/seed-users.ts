import { openSqlExecutor } from "@trellis/sql";
import { userMigrationsDir } from "../repository/open-user-repository.js";

/**
 * Creates the user database in `dataDir` (an embedded PGlite folder) with `count` users in one
 * INSERT … SELECT, far faster than through the API; for process tests and benchmarks that need
 * a populated service. The users are `seed<i>@example.com`, created a millisecond apart.
 * Nothing is written to the change log: they are simply there, as after a restore.
 */
export async function seedUsers(dataDir: string, count: number): Promise<void> {
  const executor = await openSqlExecutor({ pgliteDataDir: dataDir, migrationsDir: userMigrationsDir(), namespace: "user" });
  try {
    await executor.query(
      `INSERT INTO users (id, email, display_name, roles, version, create_time, update_time)
       SELECT gen_random_uuid(), 'seed' || i || '@example.com', 'Seed ' || i, '{1}', 1, t, t
       FROM generate_series(1, $1::int) AS i,
            LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond' AS t) AS clock`,
      [count],
    );
  } finally {
    await executor.close();
  }
}
