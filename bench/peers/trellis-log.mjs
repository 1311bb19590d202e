// Where the Trellis peers write their access logs during a benchmark: a file,
// written the way the kit's logger writes stdout in production.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pino } from "pino";

export function logDestination(name) {
  const dir = fileURLToPath(new URL("../results/tmp/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  return pino.destination({ dest: `${dir}${name}.log`, sync: false });
}
