import { readdir, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { SqlExecutor } from "./sql-executor.js";

/** Advisory lock key that serialises migrations across instances ("trellis-migrate"). */
const MIGRATION_LOCK_KEY = 0x7472_6c6d_6967n;

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Folder holding `NNN_name.sql` files. */
  readonly dir: URL | string;
  /**
   * Which service the migrations belong to: recorded with each name, so services
   * sharing one database keep separate histories. @default "default"
   */
  readonly namespace?: string;
}

/**
 * Applies every not yet applied `*.sql` file of the migrations folder, in name order, each
 * once, recording it in `schema_migrations`. Everything runs in one transaction holding an
 * advisory lock, so instances starting together apply each migration exactly once (the
 * second waits, then finds them recorded). Returns the names it applied.
 */
export async function migrate(executor: SqlExecutor, options: MigrateOptions): Promise<string[]> {
  const dir = options.dir;
  const namespace = options.namespace ?? "default";
  const dirUrl = typeof dir === "string" ? pathToFileURL(`${resolve(dir)}/`) : dir;
  const names = (await readdir(dirUrl)).filter((name) => name.endsWith(".sql")).sort();
  const scripts = await Promise.all(names.map((name) => readFile(new URL(name, dirUrl), "utf8")));

  return executor.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         name text PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const rows = await tx.query<{ name: string }>("SELECT name FROM schema_migrations");
    const applied = new Set(rows.map((row) => row.name));
    const recorded = (file: string): string => `${namespace}/${file}`;
    const done: string[] = [];
    for (const [index, name] of names.entries()) {
      if (applied.has(recorded(name))) continue;
      await tx.exec(scripts[index] ?? "");
      await tx.query("INSERT INTO schema_migrations (name) VALUES ($1)", [recorded(name)]);
      done.push(name);
    }
    return done;
  });
}
