import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/**
 * Where screenshots and scan reports go: TRELLIS_ARTIFACTS_DIR/browser (CI sets it to the
 * run's artifacts folder), else .ci/artifacts/browser in this checkout.
 */
export const ARTIFACTS_DIR = join(
  process.env["TRELLIS_ARTIFACTS_DIR"] ?? fileURLToPath(new URL("../../../../.ci/artifacts/", import.meta.url)),
  "browser",
);

/** Debian's chromium, or CHROMIUM_PATH. */
const EXECUTABLE = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

/**
 * Launches headless Chromium through playwright-core (no browser download: the system's).
 * As root Chromium refuses its sandbox, so it runs without (the pages are our own app).
 * It cannot outlive the test process: Playwright closes it on exit, SIGINT, SIGTERM and
 * SIGHUP, and Chromium quits by itself when its control pipe closes (checked: a SIGKILLed
 * test process leaves no Chromium running).
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}

/** A page that records what the console and CSP say, so a test can insist on silence. */
export interface WatchedPage {
  readonly page: Page;
  /** Console errors, page errors and CSP refusals seen so far. */
  readonly problems: string[];
}

/** Opens a page in `context` and records its console errors and uncaught exceptions. */
export async function openPage(context: BrowserContext, url: string): Promise<WatchedPage> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  await page.goto(url);
  return { page, problems };
}

/** Saves a full-page screenshot as `<name>.png` in the artifacts folder; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Saves a JSON report in the artifacts folder. */
export function saveReport(name: string, report: unknown): void {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  writeFileSync(join(ARTIFACTS_DIR, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
}
