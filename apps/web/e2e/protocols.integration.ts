/**
 * gRPC-Web and the Connect protocol with @connectrpc/connect-web's own transports, through the
 * edge to the real user and chat processes: unary calls, server streams, errors with their
 * google.rpc details, deadlines and cancellation (which must end the backend call too). The
 * same scenarios (probe/scenarios.ts) run twice: in Node (its fetch) and inside Chromium, in a
 * probe page that Playwright serves on the edge's origin, so they are same-origin fetches as
 * the app's are.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { waitFor } from "@trellis/kit/testing";
import { launchBrowser } from "./browser.js";
import { createScenarios, type ProbeProtocol, type Scenarios } from "./probe/scenarios.js";
import { startWebSystem, type WebSystem } from "./system.js";

const PROBE_DIR = fileURLToPath(new URL("./probe-page/", import.meta.url));
const TYPES: Readonly<Record<string, string>> = { ".html": "text/html", ".js": "text/javascript" };

/** Runs one scenario, wherever the caller runs them. */
type Runner = <K extends keyof Scenarios>(scenario: K, ...args: Parameters<Scenarios[K]>) => Promise<Awaited<ReturnType<Scenarios[K]>>>;

/** Runs scenarios inside `page` (window.trellisProbe); results come back as JSON. */
function inPage(page: Page): Runner {
  return (scenario, ...args) =>
    page.evaluate(([name, rest]) => (window.trellisProbe[name] as (...a: unknown[]) => Promise<unknown>)(...(rest as unknown[])), [
      scenario,
      args,
    ] as const) as never;
}

/** Runs scenarios in this Node process. */
function inNode(scenarios: Scenarios): Runner {
  return (scenario, ...args) => (scenarios[scenario] as (...a: unknown[]) => Promise<unknown>)(...args) as never;
}

describe("Connect-ES web transports through the edge, in Node and in Chromium", () => {
  let system: WebSystem;
  let browser: Browser | undefined;
  let senderId: string;
  const problems: string[] = [];
  const runners = new Map<string, Runner>();

  before(async () => {
    system = await startWebSystem();
    browser = await launchBrowser();
    const page = await browser.newPage();
    page.on("pageerror", (error) => problems.push(error.message));
    await page.route("**/__probe/**", async (route) => {
      const path = new URL(route.request().url()).pathname.replace(/^\/__probe\//, "");
      const body = await readFile(join(PROBE_DIR, path));
      await route.fulfill({ status: 200, contentType: TYPES[extname(path)] ?? "application/octet-stream", body });
    });
    await page.goto(new URL("/__probe/index.html", system.url).href);
    await page.waitForFunction(() => "trellisProbe" in window);
    runners.set("node", inNode(createScenarios(system.url.replace(/\/$/, ""))));
    runners.set("chromium", inPage(page));
    senderId = (await system.users.createUser({ email: `probe-sender-${Date.now()}@example.com`, displayName: "Probe Sender" })).user!.id;
  });
  after(async () => {
    await browser?.close();
    await system?.stop();
    assert.deepEqual(problems, [], "uncaught errors in the probe page");
  });

  /** WatchUsers calls the user service has started and not yet ended. */
  const openWatches = async (): Promise<number> => {
    const method = { grpc_method: "WatchUsers" };
    return (
      (await system.metric(system.user, "grpc_server_started_total", method)) -
      (await system.metric(system.user, "grpc_server_handled_total", method))
    );
  };
  const endedWatches = (code: string): Promise<number> =>
    system.metric(system.user, "grpc_server_handled_total", { grpc_method: "WatchUsers", grpc_code: code });

  const protocols: readonly ProbeProtocol[] = ["grpc-web", "grpc-web-json", "connect", "connect-binary"];
  for (const where of ["node", "chromium"] as const) {
    for (const protocol of protocols) {
      describe(`${protocol} in ${where}`, () => {
        const run: Runner = (scenario, ...args) => runners.get(where)!(scenario, ...args);

        it("unary: CreateUser then GetUser return the same user", async () => {
          const result = await run("unary", protocol);
          assert.equal(result.displayName, "Unary Probe");
          assert.match(result.email, /^unary-.*@example\.com$/);
          assert.equal(result.sameId, true);
          assert.equal(result.sameEtag, true);
          assert.deepEqual(result.roles, [1], "the default role (MEMBER)");
          assert.equal(result.hasCreateTime, true);
        });

        it("errors carry their status and google.rpc details", async () => {
          const result = await run("errors", protocol);
          assert.equal(result.invalid.code, "InvalidArgument");
          assert.deepEqual(result.invalid.fields.map((v) => v.field).sort(), ["display_name", "email"]);
          assert.ok(
            result.invalid.fields.every((v) => v.description !== ""),
            "every violation says what is wrong",
          );
          assert.equal(result.missing.code, "NotFound");
          assert.deepEqual(result.missing.resources, [{ type: "trellis.user.v1.User", name: "00000000-0000-4000-8000-000000000000" }]);
        });

        it("server streaming: WatchUsers is live (headers) before any change, then delivers the next one", async () => {
          const result = await run("watch", protocol);
          assert.deepEqual(result.events, ["header", "change"]);
          assert.equal(result.type, "CREATED");
          assert.equal(result.sameUser, true);
          assert.equal(result.hasResumeToken, true);
        });

        it("server streaming: Subscribe gets the message Send posts, and History has it", async () => {
          const result = await run("chat", protocol, senderId);
          assert.equal(result.kind, "message");
          assert.equal(result.sameMessage, true);
          assert.equal(result.text, `hello over ${protocol}`);
          assert.deepEqual(result.historyIds, [result.sentId]);
        });

        it("a deadline ends a stream with DEADLINE_EXCEEDED, and the backend call ends too", async () => {
          const before = (await endedWatches("DeadlineExceeded")) + (await endedWatches("Canceled"));
          const result = await run("deadline", protocol, 300);
          assert.equal(result.code, "DeadlineExceeded", result.message);
          // The backend's call ended with the caller's: by its own deadline (the edge passed it
          // on) or cancelled by the edge, whichever came first — never left running.
          await waitFor(
            async () => (await endedWatches("DeadlineExceeded")) + (await endedWatches("Canceled")) > before,
            "the backend WatchUsers call to end",
          );
          await waitFor(async () => (await openWatches()) === 0, "no WatchUsers call left open at the user service");
        });

        it("cancelling a stream cancels the backend call", async () => {
          const before = await endedWatches("Canceled");
          const result = await run("cancel", protocol);
          assert.equal(result.code, "Canceled", result.message);
          await waitFor(async () => (await endedWatches("Canceled")) > before, "the backend WatchUsers call to be cancelled");
          await waitFor(async () => (await openWatches()) === 0, "no WatchUsers call left open at the user service");
        });
      });
    }
  }
});
