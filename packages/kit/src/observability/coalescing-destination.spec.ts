import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createCoalescingDestination } from "./coalescing-destination.js";
import { createLogger } from "./logger.js";
import { createTempDir, type TempDir } from "../testing/temp-dir.js";

describe("createCoalescingDestination", () => {
  let dir: TempDir;
  let counter = 0;
  const nextFile = (): string => join(dir.path, `log-${++counter}.ndjson`);
  const read = (file: string): string => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };

  before(() => {
    dir = createTempDir("trellis-log-");
  });
  after(() => dir.remove());

  it("writes the lines of one turn together, whole and in order, when the turn ends", () => {
    const file = nextFile();
    const turns: (() => void)[] = [];
    const destination = createCoalescingDestination({ dest: file, schedule: (write) => turns.push(write) });
    destination.write('{"n":1}\n');
    destination.write('{"n":2}\n');
    assert.equal(read(file), "", "nothing is written before the turn ends");
    assert.equal(turns.length, 1, "one write is scheduled per turn, not one per line");
    turns[0]?.();
    assert.equal(read(file), '{"n":1}\n{"n":2}\n');
  });

  it("writes at once when the pending lines pass the limit", () => {
    const file = nextFile();
    const destination = createCoalescingDestination({ dest: file, maxPendingChars: 16, schedule: () => undefined });
    destination.write('{"n":1}\n');
    assert.equal(read(file), "");
    destination.write('{"n":2}\n');
    assert.equal(read(file), '{"n":1}\n{"n":2}\n');
  });

  it("writes pending lines when flushed through the logger", () => {
    const file = nextFile();
    const logger = createLogger({ destination: createCoalescingDestination({ dest: file, schedule: () => undefined }) });
    logger.info({ "grpc.code": "OK" }, "call ok");
    logger.flush();
    const line = JSON.parse(read(file)) as Record<string, unknown>;
    assert.equal(line["message"], "call ok");
    assert.equal(line["grpc.code"], "OK");
  });

  it("loses no line when the process exits in the same turn it logged", async () => {
    const logger = fileURLToPath(new URL("./logger.js", import.meta.url));
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ serviceName: "exit-test" });
      for (let i = 0; i < 3; i++) log.info({ i }, "line " + i);
      process.exit(0);`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
    const lines = stdout
      .trim()
      .split("\n")
      .map((text) => JSON.parse(text) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((line) => line["message"]),
      ["line 0", "line 1", "line 2"],
    );
  });

  it("writes lines logged by exit hooks that run after its own", async () => {
    const logger = fileURLToPath(new URL("./logger.js", import.meta.url));
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ serviceName: "exit-test" });
      process.on("exit", () => log.info("from an exit hook"));
      process.exit(0);`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
    assert.match(stdout, /"message":"from an exit hook"/);
  });
});
