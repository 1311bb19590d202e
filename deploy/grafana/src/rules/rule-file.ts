/**
 * Prometheus rule files as data, and their YAML. Only the shapes a rule file
 * has are written (maps of strings, lists), so the emitter is a few lines and
 * needs no YAML library: strings are double-quoted JSON strings (valid YAML)
 * or literal blocks when they span lines.
 */

/** A recording rule. */
export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** An alerting rule. */
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold before the alert fires, e.g. `5m`. @default fires at once */
  readonly for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A rule group: evaluated together, in order. */
export interface RuleGroup {
  readonly name: string;
  /** Evaluation interval. @default Prometheus' global evaluation_interval */
  readonly interval?: string;
  readonly rules: readonly (RecordingRule | AlertingRule)[];
}

/** A rule file: one or more groups. */
export interface RuleFile {
  /** File name under deploy/prometheus/rules/, e.g. `slo-availability.yml`. */
  readonly fileName: string;
  /** Comment lines written at the top of the file. */
  readonly header: readonly string[];
  readonly groups: readonly RuleGroup[];
}

/** Whether a rule records (rather than alerts). */
export function isRecording(rule: RecordingRule | AlertingRule): rule is RecordingRule {
  return "record" in rule;
}

/** A YAML scalar: a literal block for multi-line text, a double-quoted (JSON) string otherwise. */
function scalar(value: string, indent: string): string {
  if (!value.includes("\n")) return JSON.stringify(value);
  if (/^\s/.test(value) || /\s$/.test(value)) throw new Error(`multi-line value with surrounding space: ${JSON.stringify(value)}`);
  return `|-\n${value
    .split("\n")
    .map((line) => (line === "" ? "" : indent + line))
    .join("\n")}`;
}

/** `key: value` lines of a string map, sorted by key, at `indent`. */
function stringMap(name: string, map: Readonly<Record<string, string>> | undefined, indent: string): string[] {
  if (map === undefined || Object.keys(map).length === 0) return [];
  const keys = Object.keys(map).sort();
  return [`${indent}${name}:`, ...keys.map((k) => `${indent}  ${k}: ${scalar(map[k] as string, `${indent}    `)}`)];
}

/** The YAML text of a rule file, ending with a newline. */
export function ruleFileYaml(file: RuleFile): string {
  const out: string[] = [...file.header.map((line) => (line === "" ? "#" : `# ${line}`)), "groups:"];
  for (const group of file.groups) {
    out.push(`  - name: ${JSON.stringify(group.name)}`);
    if (group.interval !== undefined) out.push(`    interval: ${group.interval}`);
    out.push("    rules:");
    for (const rule of group.rules) {
      const head = isRecording(rule) ? `record: ${JSON.stringify(rule.record)}` : `alert: ${JSON.stringify(rule.alert)}`;
      out.push(`      - ${head}`);
      out.push(`        expr: ${scalar(rule.expr, "          ")}`);
      if (!isRecording(rule) && rule.for !== undefined) out.push(`        for: ${rule.for}`);
      out.push(...stringMap("labels", rule.labels, "        "));
      if (!isRecording(rule)) out.push(...stringMap("annotations", rule.annotations, "        "));
    }
  }
  return `${out.join("\n")}\n`;
}
