import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { GeneratedDashboard } from "./dashboards/dashboard.js";
import { grpcRedDashboard } from "./dashboards/grpc-red.js";
import { resilienceDashboard } from "./dashboards/resilience.js";
import { runtimeDashboard } from "./dashboards/runtime.js";
import { sloDashboard } from "./dashboards/slo.js";
import { parseCheckRuleFile, queryList, type QueryList } from "./queries.js";
import { ruleFileYaml, type RuleFile } from "./rules/rule-file.js";
import { saturationRuleFile } from "./rules/saturation-rules.js";
import { availabilityRuleFile, latencyRuleFile } from "./rules/slo-rules.js";

/**
 * `npm run dashboards`: writes the dashboards (deploy/grafana/dashboards/*.json),
 * the list of every PromQL expression (deploy/grafana/dashboards/queries.json)
 * and the Prometheus rules (deploy/prometheus/rules/*.yml). Deterministic: CI
 * regenerates and fails on any difference.
 *
 * `--parse-check=FILE` also writes a rule file of every expression, for
 * `promtool check rules FILE`.
 */

/** Everything that is generated, as data. */
export interface Generated {
  readonly dashboards: readonly GeneratedDashboard[];
  readonly ruleFiles: readonly RuleFile[];
  readonly queries: QueryList;
}

/** Builds every dashboard, rule file and the query list. */
export function generateAll(): Generated {
  const dashboards = [grpcRedDashboard(), sloDashboard(), resilienceDashboard(), runtimeDashboard()];
  const ruleFiles = [availabilityRuleFile(), latencyRuleFile(), saturationRuleFile()];
  return { dashboards, ruleFiles, queries: queryList(dashboards, ruleFiles) };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Writes the generated files under the repository root; returns their paths. */
export function writeAll(root: string, generated: Generated): string[] {
  const dashboardsDir = join(root, "deploy/grafana/dashboards");
  const rulesDir = join(root, "deploy/prometheus/rules");
  mkdirSync(dashboardsDir, { recursive: true });
  mkdirSync(rulesDir, { recursive: true });
  const written: string[] = [];
  const write = (path: string, text: string): void => {
    writeFileSync(path, text);
    written.push(path);
  };
  for (const d of generated.dashboards) write(join(dashboardsDir, d.fileName), json(d.model));
  write(join(dashboardsDir, "queries.json"), json(generated.queries));
  for (const f of generated.ruleFiles) write(join(rulesDir, f.fileName), ruleFileYaml(f));
  return written;
}

function main(argv: readonly string[]): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  const generated = generateAll();
  const written = writeAll(root, generated);
  for (const arg of argv) {
    const match = /^--parse-check=(.+)$/.exec(arg);
    if (match === null) throw new Error(`unknown argument ${arg} (only --parse-check=FILE)`);
    const file = resolve(match[1] as string);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, ruleFileYaml(parseCheckRuleFile(generated.queries)));
    written.push(file);
  }
  console.log(
    `dashboards: ${generated.dashboards.length} dashboards, ${generated.ruleFiles.length} rule files, ` +
      `${generated.queries.queries.length} PromQL expressions written:\n  ${written.map((p) => p.replace(`${root}/`, "")).join("\n  ")}`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
