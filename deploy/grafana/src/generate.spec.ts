import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateAll } from "./generate.js";
import { knownMetricNames, metricNamesIn } from "./metric-catalog.js";
import { substitute } from "./queries.js";
import { isRecording, ruleFileYaml } from "./rules/rule-file.js";

interface PanelJson {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { refId?: string; expr?: string; datasource?: { uid?: string } }[];
}

describe("generated dashboards and rules", () => {
  const generated = generateAll();

  it("gives every dashboard a unique uid and file, and every panel a unique id", () => {
    const uids = generated.dashboards.map((d) => d.model.uid);
    assert.equal(new Set(uids).size, uids.length);
    assert.equal(new Set(generated.dashboards.map((d) => d.fileName)).size, uids.length);
    for (const d of generated.dashboards) {
      const ids = (d.model.panels ?? []).map((p) => (p as PanelJson).id);
      assert.ok(
        ids.every((id) => typeof id === "number"),
        `${d.fileName}: a panel without id`,
      );
      assert.equal(new Set(ids).size, ids.length, `${d.fileName}: duplicate panel ids`);
    }
  });

  it("queries the dashboard's Prometheus datasource from every panel, with distinct refIds", () => {
    for (const d of generated.dashboards) {
      for (const panel of (d.model.panels ?? []) as PanelJson[]) {
        if (panel.type === "row") continue;
        assert.equal(panel.datasource?.uid, "${datasource}", `${d.fileName}: ${panel.title}`);
        const targets = panel.targets ?? [];
        assert.ok(targets.length > 0, `${d.fileName}: ${panel.title} has no query`);
        assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length, `${d.fileName}: ${panel.title}`);
        for (const t of targets) assert.equal(t.datasource?.uid, "${datasource}");
      }
    }
  });

  it("lists every panel query, variable selector and rule, as plain PromQL", () => {
    const queries = generated.queries.queries;
    const panelQueries = generated.dashboards.flatMap((d) =>
      ((d.model.panels ?? []) as PanelJson[]).flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    );
    assert.equal(queries.filter((q) => q.source === "panel").length, panelQueries.length);
    const rules = generated.ruleFiles.flatMap((f) => f.groups.flatMap((g) => g.rules));
    assert.equal(queries.filter((q) => q.source === "record" || q.source === "alert").length, rules.length);
    for (const q of queries) assert.doesNotMatch(q.promql, /\$/, `${q.file} ${q.name}`);
  });

  it("reads only metrics in the catalog (or recorded by the rules)", () => {
    const known = new Set<string>(knownMetricNames());
    for (const f of generated.ruleFiles) for (const g of f.groups) for (const r of g.rules) if (isRecording(r)) known.add(r.record);
    const unknown = generated.queries.queries.flatMap((q) =>
      metricNamesIn(q.promql)
        .filter((n) => !known.has(n))
        .map((n) => `${q.file} ${q.name}: ${n}`),
    );
    assert.deepEqual(unknown, []);
    // and the extraction sees through matchers, ranges and grouping
    assert.deepEqual(
      metricNamesIn(
        'sum by (job, le) (rate(grpc_server_handling_seconds_bucket{grpc_code=~"Internal|Unknown"}[5m])) / on (job) group_left up',
      ),
      ["grpc_server_handling_seconds_bucket", "up"],
    );
  });

  it("labels every alert with a severity and explains it", () => {
    for (const f of generated.ruleFiles) {
      for (const g of f.groups) {
        for (const r of g.rules) {
          if (isRecording(r)) {
            assert.match(r.record, /^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/, "level:metric:operations");
            continue;
          }
          assert.match(r.labels?.severity ?? "", /^(page|ticket)$/, r.alert);
          assert.ok((r.annotations?.summary ?? "") !== "" && (r.annotations?.description ?? "") !== "", r.alert);
        }
      }
    }
  });

  it("substitutes every dashboard variable and refuses an unknown one", () => {
    assert.equal(substitute('rate(x{job=~"$job"}[$__rate_interval])'), 'rate(x{job=~".*"}[1m])');
    assert.throws(() => substitute('x{a="$nope"}'), /no default for dashboard variable \$nope/);
  });

  it("writes rule files as YAML with multi-line expressions as literal blocks", () => {
    const yaml = ruleFileYaml({
      fileName: "x.yml",
      header: ["a header"],
      groups: [
        {
          name: "g",
          rules: [{ alert: "A", expr: "a\n/\nb", for: "5m", labels: { severity: "ticket" }, annotations: { summary: 'say "hi"' } }],
        },
      ],
    });
    assert.equal(
      yaml,
      [
        "# a header",
        "groups:",
        '  - name: "g"',
        "    rules:",
        '      - alert: "A"',
        "        expr: |-",
        "          a",
        "          /",
        "          b",
        "        for: 5m",
        "        labels:",
        '          severity: "ticket"',
        "        annotations:",
        '          summary: "say \\"hi\\""',
        "",
      ].join("\n"),
    );
  });
});
