// Where the Trellis peers write their access logs during a benchmark: a file,
// written the way the kit's logger writes stdout in production (one write per
// event-loop turn, createCoalescingDestination).
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createCoalescingDestination } from "@trellis/kit/observability";

export function logDestination(name) {
  const dir = fileURLToPath(new URL("../results/tmp/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  return createCoalescingDestination({ dest: `${dir}${name}.log` });
}
