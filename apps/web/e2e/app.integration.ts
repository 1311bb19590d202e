/**
 * The web app in a real Chromium against real user, chat and edge processes: what a person
 * sees when two of them use it at once. Screenshots go to the artifacts folder (browser.ts).
 */
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchBrowser, openPage, saveReport, screenshot, type WatchedPage } from "./browser.js";
import { startWebSystem, type WebSystem } from "./system.js";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const unique = (): string => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

describe("the web app, two people at once", () => {
  let system: WebSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pages: WatchedPage[] = [];

  /** A fresh person: their own browser context (storage), one page at `path`. */
  const person = async (path: string, options: { colorScheme?: "light" | "dark" } = {}): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: options.colorScheme ?? "light" });
    contexts.push(context);
    const watched = await openPage(context, new URL(path, system.url).href);
    pages.push(watched);
    return watched.page;
  };
  const live = (page: Page, label: string) =>
    page
      .locator(`[role=status][data-state=live]`, { hasText: "Live" })
      .filter({ has: page.getByText(label) })
      .waitFor();

  before(async () => {
    system = await startWebSystem();
    browser = await launchBrowser();
  });
  // Each test's people leave when it ends (their live streams with them).
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => undefined);
  });
  after(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => undefined);
    await browser?.close();
    await system?.stop();
    // Whatever the pages logged as errors (a CSP refusal, an uncaught exception) fails the suite.
    const problems = pages.flatMap((watched) => watched.problems);
    assert.deepEqual(problems, [], "the pages logged errors");
  });

  it("serves the app through the edge with its security headers", async () => {
    const response = await fetch(system.url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    const html = await response.text();
    const asset = /src="(\/assets\/index-[\w-]+\.js)"/.exec(html)?.[1];
    assert.ok(asset !== undefined, "index.html names a hashed script");
    assert.equal((await fetch(new URL(asset, system.url))).status, 200);
  });

  it("shows a user created in one page in another page, live, without a reload", async () => {
    const a = await person("/#/people");
    const b = await person("/#/people");
    await Promise.all([live(a, "Directory updates"), live(b, "Directory updates")]);
    await b.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    const name = `Ada ${unique()}`;

    await a.getByRole("button", { name: "New user" }).click();
    await a.getByRole("textbox", { name: "Name", exact: true }).fill(name);
    await a.getByRole("textbox", { name: "Email", exact: true }).fill(`${name.replace(" ", ".").toLowerCase()}@example.com`);
    await a.getByRole("checkbox", { name: /Moderator/ }).check();
    await a.getByRole("button", { name: "Create user" }).click();

    const row = b.getByRole("row").filter({ hasText: name });
    await row.waitFor();
    assert.match(await row.innerText(), /Moderator/);
    assert.equal(await b.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, "page B was not reloaded");
    await screenshot(b, "directory-live-update");
  });

  it("works the same over the Connect protocol: a page on Connect and one on gRPC-Web see each other's changes live", async () => {
    const a = await person("/?protocol=connect#/people");
    const b = await person("/#/people");
    await Promise.all([live(a, "Directory updates"), live(b, "Directory updates")]);
    assert.equal(await a.getByRole("combobox", { name: "Protocol" }).inputValue(), "connect");
    const name = `Connie ${unique()}`;
    await a.getByRole("button", { name: "New user" }).click();
    await a.getByRole("textbox", { name: "Name", exact: true }).fill(name);
    await a.getByRole("textbox", { name: "Email", exact: true }).fill(`${name.replace(" ", ".").toLowerCase()}@example.com`);
    await a.getByRole("button", { name: "Create user" }).click();
    await b.getByRole("row").filter({ hasText: name }).waitFor();
    const renamed = `${name} (renamed)`;
    await b.getByRole("button", { name: `Edit ${name}` }).click();
    await b.getByRole("textbox", { name: "Name", exact: true }).fill(renamed);
    await b.getByRole("button", { name: "Save changes" }).click();
    await a.getByRole("row").filter({ hasText: renamed }).waitFor();
  });

  it("shows the server's validation errors next to their fields", async () => {
    const a = await person("/#/people");
    await a.getByRole("button", { name: "New user" }).click();
    const name = a.getByRole("textbox", { name: "Name", exact: true });
    const email = a.getByRole("textbox", { name: "Email", exact: true });
    await email.fill("not-an-email");
    await a.getByRole("button", { name: "Create user" }).click();

    // The request's rules (from the .proto) refused both fields: each message sits in its
    // field's group and is what the input is described by.
    const emailError = a.locator("[data-error-for=email]");
    await emailError.waitFor();
    assert.equal(await a.locator(".field", { has: email }).locator("[data-error-for=email]").count(), 1);
    assert.equal(await email.getAttribute("aria-invalid"), "true");
    assert.equal(await email.getAttribute("aria-describedby"), await emailError.getAttribute("id"));
    assert.match(await emailError.innerText(), /email/i);
    const nameError = a.locator("[data-error-for=display_name]");
    assert.equal(await a.locator(".field", { has: name }).locator("[data-error-for=display_name]").count(), 1);
    assert.match(await nameError.innerText(), /required|empty|at least/i);
    assert.equal(await name.getAttribute("aria-invalid"), "true");
    // Focus went to the first field in error, for keyboard and screen-reader users.
    await a.waitForFunction(() => document.activeElement?.id === "user-display-name");
    await screenshot(a, "validation-errors");
    await scan(a, "a11y-user-form-with-errors");

    // A blank name passes the .proto's rules; the service's own rule refuses it, next to the field too.
    await name.fill("   ");
    await email.fill(`blank-${unique()}@example.com`);
    await a.getByRole("button", { name: "Create user" }).click();
    await a.locator("[data-error-for=display_name]", { hasText: /blank/i }).waitFor();
    assert.equal(await a.locator("[data-error-for=email]").count(), 0);
    assert.equal(await email.getAttribute("aria-invalid"), null);
    await a.keyboard.press("Escape");
    await a.getByRole("dialog").waitFor({ state: "detached" });
  });

  it("refuses an edit made with a stale etag and shows the conflict, then saves on the latest version", async () => {
    const { user } = await system.users.createUser({ email: `grace-${unique()}@example.com`, displayName: "Grace Hopper" });
    const a = await person("/#/people");
    const b = await person("/#/people");
    for (const page of [a, b]) await page.getByRole("button", { name: `Edit Grace Hopper` }).filter({ visible: true }).last().click();

    await b.getByRole("textbox", { name: "Name", exact: true }).fill("Rear Admiral Grace Hopper");
    await b.getByRole("button", { name: "Save changes" }).click();
    await b.getByRole("dialog").waitFor({ state: "detached" });

    await a.getByRole("textbox", { name: "Name", exact: true }).fill("Amazing Grace");
    await a.getByRole("button", { name: "Save changes" }).click();
    const conflict = a.locator("[data-problem=conflict]");
    await conflict.waitFor();
    assert.match(await conflict.innerText(), /Someone else changed this user/);
    await screenshot(a, "edit-conflict");
    const stored = (await system.users.getUser({ id: user!.id })).user!;
    assert.equal(stored.displayName, "Rear Admiral Grace Hopper", "the stale edit changed nothing");

    await a.getByRole("button", { name: "Load their version" }).click();
    const nameField = a.getByRole("textbox", { name: "Name", exact: true });
    await a.waitForFunction(
      () => (document.getElementById("user-display-name") as HTMLInputElement | null)?.value === "Rear Admiral Grace Hopper",
    );
    await nameField.fill("Amazing Grace");
    await a.getByRole("button", { name: "Save changes" }).click();
    await a.getByRole("dialog").waitFor({ state: "detached" });
    assert.equal((await system.users.getUser({ id: user!.id })).user!.displayName, "Amazing Grace");
    await b.getByRole("row").filter({ hasText: "Amazing Grace" }).waitFor();
  });

  it("is usable from the keyboard: the dialog takes focus, Escape closes it and focus returns", async () => {
    const a = await person("/#/people");
    const newUser = a.getByRole("button", { name: "New user" });
    await newUser.focus();
    await a.keyboard.press("Enter");
    await a.getByRole("dialog", { name: "New user" }).waitFor();
    assert.equal(await a.evaluate(() => document.activeElement?.id), "user-display-name");
    const name = `Keyboard ${unique()}`;
    await a.keyboard.type(name);
    await a.keyboard.press("Tab");
    await a.keyboard.type(`${unique()}@example.com`);
    await a.keyboard.press("Enter");
    await a.getByRole("dialog").waitFor({ state: "detached" });
    await a.getByRole("row").filter({ hasText: name }).waitFor();

    await newUser.focus();
    await a.keyboard.press("Enter");
    await a.getByRole("dialog", { name: "New user" }).waitFor();
    await a.keyboard.press("Escape");
    await a.getByRole("dialog").waitFor({ state: "detached" });
    assert.equal(await a.evaluate(() => document.activeElement?.textContent?.trim()), "New user");
  });

  it("removes a deleted user from every page", async () => {
    const name = `Temp ${unique()}`;
    await system.users.createUser({ email: `${name.replace(" ", "-").toLowerCase()}@example.com`, displayName: name });
    const a = await person("/#/people");
    const b = await person("/#/people");
    await Promise.all([a, b].map((page) => page.getByRole("row").filter({ hasText: name }).waitFor()));
    await a.getByRole("button", { name: `Delete ${name}` }).click();
    await a.getByRole("dialog", { name: "Delete user?" }).getByRole("button", { name: "Delete" }).click();
    await Promise.all([a, b].map((page) => page.getByRole("row").filter({ hasText: name }).waitFor({ state: "detached" })));
  });

  it("pages through the directory", async () => {
    const tag = unique();
    const names = Array.from({ length: 12 }, (_, i) => `Pager ${tag} ${String(i).padStart(2, "0")}`);
    for (const [i, displayName] of names.entries()) await system.users.createUser({ email: `pager-${tag}-${i}@example.com`, displayName });
    const a = await person("/#/people");
    await a.getByRole("searchbox", { name: "Search by name or email" }).fill(`pager-${tag}`);
    await a.getByLabel("Per page").selectOption("10");
    // The table shows exactly this search's first page (not the unfiltered page read first).
    await rowsAre(a, names.slice(0, 10));
    await a.getByRole("button", { name: "Next" }).click();
    await rowsAre(a, names.slice(10));
    assert.equal(await a.getByRole("button", { name: "Next" }).isDisabled(), true);
    assert.match(await a.locator(".pager-position").innerText(), /Page 2/);
    await a.getByRole("button", { name: "Previous" }).click();
    await rowsAre(a, names.slice(0, 10));
    await screenshot(a, "directory-search-and-paging");
    await scan(a, "a11y-directory");
  });

  it("delivers a chat message posted in one page to another, live", async () => {
    const { user } = await system.users.createUser({ email: `linus-${unique()}@example.com`, displayName: "Linus" });
    const room = `room-${unique()}`;
    const a = await person(`/#/chat/${room}`);
    const b = await person(`/#/chat/${room}`);
    await Promise.all([live(a, "Room updates"), live(b, "Room updates")]);
    await a.getByLabel("Posting as").selectOption(user!.id);
    const composer = a.getByRole("textbox", { name: `Message #${room}` });
    await composer.fill("Hello from page A");
    await composer.press("Enter");
    const seen = b.getByRole("log").getByText("Hello from page A");
    await seen.waitFor();
    assert.match(await b.getByRole("log").locator("li", { hasText: "Hello from page A" }).innerText(), /Linus/);
    assert.equal(await composer.inputValue(), "", "the composer is cleared after sending");
    await screenshot(b, "chat-live-message");
    await scan(b, "a11y-chat");
  });

  it("reads older chat history a page at a time", async () => {
    const { user } = await system.users.createUser({ email: `history-${unique()}@example.com`, displayName: "Historian" });
    const room = `history-${unique()}`;
    for (let i = 0; i < 60; i++) await system.rooms.send({ room, senderId: user!.id, text: `entry ${String(i).padStart(2, "0")}` });
    const a = await person(`/#/chat/${room}`);
    const log = a.getByRole("log");
    await log.getByText("entry 59").waitFor();
    assert.equal(await log.locator("li[data-message-id]").count(), 50);
    assert.equal(await log.getByText("entry 09", { exact: true }).count(), 0);
    await a.getByRole("button", { name: "Load older messages" }).click();
    await log.getByText("entry 00", { exact: true }).waitFor();
    assert.equal(await log.locator("li[data-message-id]").count(), 60);
    await a.getByText(`This is the beginning of #${room}.`).waitFor();
    const texts = await log.locator(".message-text").allInnerTexts();
    assert.deepEqual(texts, texts.slice().sort(), "oldest first");
  });

  it("shows who joins and leaves a room through a live chat session", async () => {
    const { user } = await system.users.createUser({ email: `presence-${unique()}@example.com`, displayName: "Margaret" });
    const room = `presence-${unique()}`;
    const a = await person(`/#/chat/${room}`);
    await live(a, "Room updates");
    // A chat client elsewhere (not a browser: presence rides on the bidi Chat stream).
    const requests = feed<{ action: { case: "join"; value: { room: string; userId: string } } }>();
    const session = system.rooms.chat(requests.iterable)[Symbol.asyncIterator]();
    requests.push({ action: { case: "join", value: { room, userId: user!.id } } });
    const joined = session.next();
    const activeNow = a.getByRole("region", { name: "Active now" });
    await activeNow.getByText("Margaret").waitFor();
    await a.getByRole("log").getByText("Margaret joined").waitFor();
    await screenshot(a, "chat-presence");
    await joined;
    requests.end();
    await session.return?.();
    await a.getByRole("log").getByText("Margaret left").waitFor();
    await activeNow.getByText("Nobody is in a live chat session here.").waitFor();
  });

  it("looks right in dark mode too (no serious accessibility violations)", async () => {
    const a = await person("/#/people", { colorScheme: "dark" });
    await a.getByRole("row").nth(1).waitFor();
    await screenshot(a, "directory-dark");
    await scan(a, "a11y-directory-dark");
    const room = `dark-${unique()}`;
    const { user } = await system.users.createUser({ email: `dark-${unique()}@example.com`, displayName: "Nyx" });
    await system.rooms.send({ room, senderId: user!.id, text: "Good evening" });
    await a.goto(new URL(`/#/chat/${room}`, system.url).href);
    await a.getByRole("log").getByText("Good evening").waitFor();
    await screenshot(a, "chat-dark");
    await scan(a, "a11y-chat-dark");
  });
});

/** Waits until the directory's rows are exactly `names`, in order. */
async function rowsAre(page: Page, names: readonly string[]): Promise<void> {
  await page.waitForFunction(
    (expected) =>
      JSON.stringify([...document.querySelectorAll("tbody tr[data-user-id] .person-name")].map((cell) => cell.textContent)) ===
      JSON.stringify(expected),
    names,
  );
}

/**
 * axe-core on the page as it is: no serious or critical violation. Evaluated through the
 * DevTools protocol, so the page's own CSP (script-src 'self') stays in force and is tested.
 */
async function scan(page: Page, name: string): Promise<void> {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResults> } }).axe.run(document, {
      resultTypes: ["violations"],
    }),
  );
  const violations = results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ")),
  }));
  saveReport(name, { url: page.url(), violations });
  const blocking = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(blocking, [], `${name}: serious or critical accessibility violations`);
}

interface AxeResults {
  readonly violations: readonly { id: string; impact: string | null; help: string; nodes: readonly { target: readonly string[] }[] }[];
}

/** A request stream the test feeds by hand. */
function feed<T>(): { push(item: T): void; end(): void; iterable: AsyncIterable<T> } {
  const queue: T[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  return {
    push(item) {
      queue.push(item);
      wake?.();
    },
    end() {
      done = true;
      wake?.();
    },
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = queue.shift();
          if (next !== undefined) yield next;
          else if (done) return;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    },
  };
}
