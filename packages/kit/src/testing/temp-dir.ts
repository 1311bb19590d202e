import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onProcessEnd } from "./process-cleanup.js";

/** A temporary folder a test owns. */
export interface TempDir {
  readonly path: string;
  /** Removes the folder and everything in it (idempotent). Call it in a `finally` block. */
  remove(): void;
}

/**
 * Creates a fresh folder under the system's temporary directory, named `<prefix>XXXXXX`.
 * Remove it in a `finally` block; if the test process is ended before that runs (the test
 * runner's timeout sends SIGTERM), it is removed when the process exits or is signalled.
 */
export function createTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const removeNow = (): void => rmSync(path, { recursive: true, force: true });
  const release = onProcessEnd(removeNow);
  return {
    path,
    remove() {
      release();
      removeNow();
    },
  };
}
