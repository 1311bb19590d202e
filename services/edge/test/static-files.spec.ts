import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { createTempDir, type TempDir } from "@trellis/kit/testing";
import { startEdgeUnderTest, type EdgeUnderTest } from "./edge-harness.js";

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One request written on a raw socket, so the path reaches the edge exactly as written (no client normalisation). */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks);
      const split = text.indexOf("\r\n\r\n");
      const head = text.subarray(0, split).toString("latin1").split("\r\n");
      const out: Record<string, string> = {};
      for (const line of head.slice(1)) out[line.slice(0, line.indexOf(":")).toLowerCase()] = line.slice(line.indexOf(":") + 1).trim();
      resolve({ status: Number(head[0]!.split(" ")[1]), headers: out, body: text.subarray(split + 4) });
    });
    const lines = Object.entries({ host: "edge.test", connection: "close", ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.write(`${method} ${path} HTTP/1.1\r\n${lines.join("")}\r\n`);
  });
}

const INDEX = "<!doctype html><title>app</title><script type=module src=/assets/index-AbCd1234.js></script>";
const SCRIPT = `export const app = ${JSON.stringify("x".repeat(4000))};\n`;
const STYLE = `body { color: black; }\n${"/* padding */\n".repeat(200)}`;

describe("the web app's files", () => {
  let dir: TempDir;
  let edge: EdgeUnderTest;
  before(async () => {
    dir = createTempDir("trellis-edge-web-");
    mkdirSync(join(dir.path, "assets"));
    writeFileSync(join(dir.path, "index.html"), INDEX);
    writeFileSync(join(dir.path, "assets", "index-AbCd1234.js"), SCRIPT);
    writeFileSync(join(dir.path, "assets", "index-EfGh5678.css"), STYLE);
    // A precompressed sibling, as a build step may write it: served as it is.
    writeFileSync(join(dir.path, "assets", "index-EfGh5678.css.gz"), gzipSync(Buffer.from(STYLE)));
    edge = await startEdgeUnderTest({ webDir: dir.path });
  });
  after(async () => {
    await edge?.close();
    dir?.remove();
  });

  it("serves index.html with the security headers and no caching", async () => {
    const reply = await raw(edge.port, "GET", "/");
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), INDEX);
    assert.equal(reply.headers["content-type"], "text/html; charset=utf-8");
    assert.match(String(reply.headers["content-security-policy"]), /^default-src 'self'; script-src 'self';.*frame-ancestors 'none'$/);
    assert.equal(reply.headers["x-content-type-options"], "nosniff");
    assert.equal(reply.headers["x-frame-options"], "DENY");
    assert.equal(reply.headers["referrer-policy"], "strict-origin-when-cross-origin");
    assert.equal(reply.headers["cache-control"], "no-cache");
  });

  it("compresses hashed assets (Brotli or gzip as accepted, a precompressed sibling first) and caches them for a year", async () => {
    const br = await raw(edge.port, "GET", "/assets/index-AbCd1234.js", { "accept-encoding": "gzip, deflate, br" });
    assert.equal(br.status, 200);
    assert.equal(br.headers["content-encoding"], "br");
    assert.equal(br.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(br.headers.vary, "Accept-Encoding");
    assert.equal(brotliDecompressSync(br.body).toString(), SCRIPT);
    assert.ok(br.body.length < SCRIPT.length / 10, `compressed to ${br.body.length} bytes`);
    const gz = await raw(edge.port, "GET", "/assets/index-AbCd1234.js", { "accept-encoding": "gzip" });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.equal(gunzipSync(gz.body).toString(), SCRIPT);
    const plain = await raw(edge.port, "GET", "/assets/index-AbCd1234.js", { "accept-encoding": "br;q=0, identity" });
    assert.equal(plain.headers["content-encoding"], undefined);
    assert.equal(plain.body.toString(), SCRIPT);
    const sibling = await raw(edge.port, "GET", "/assets/index-EfGh5678.css", { "accept-encoding": "br, gzip" });
    assert.equal(sibling.headers["content-encoding"], "gzip", "the .gz sibling, since there is no .br");
    assert.equal(gunzipSync(sibling.body).toString(), STYLE);
  });

  it("answers 304 to a matching If-None-Match, and HEAD without a body", async () => {
    const first = await raw(edge.port, "GET", "/assets/index-AbCd1234.js");
    const etag = String(first.headers.etag);
    assert.match(etag, /^W\/"/);
    const again = await raw(edge.port, "GET", "/assets/index-AbCd1234.js", { "if-none-match": etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const head = await raw(edge.port, "HEAD", "/");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it("gives a browser navigation to a client-side route the app, and anything else missing a 404", async () => {
    const route = await raw(edge.port, "GET", "/people/42", { accept: "text/html,application/xhtml+xml" });
    assert.equal(route.status, 200);
    assert.equal(route.body.toString(), INDEX);
    const missing = await raw(edge.port, "GET", "/assets/missing.js");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers["x-content-type-options"], "nosniff");
  });

  it("never serves a file outside the web app's folder, whatever the encoding of the path", async () => {
    for (const path of [
      "/../../../../etc/passwd",
      "/assets/../../../../etc/passwd",
      "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "/assets/..%2f..%2f..%2fetc%2fpasswd",
      "/..%5c..%5cetc/passwd",
      "/%00",
      "/index.html%00.js",
    ]) {
      const reply = await raw(edge.port, "GET", path);
      assert.ok(reply.status === 400 || reply.status === 404, `${path}: HTTP ${reply.status}`);
      assert.ok(!reply.body.toString().includes("root:"), `${path}: /etc/passwd served`);
    }
    assert.equal((await raw(edge.port, "GET", "/%zz")).status, 400, "malformed percent-encoding");
    const post = await raw(edge.port, "POST", "/index.html", { "content-length": "0" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });

  it("serves the same over HTTP/2", async () => {
    const session = http2Connect(`http://127.0.0.1:${edge.port}`);
    try {
      const reply = await new Promise<Reply>((resolve, reject) => {
        const stream = session.request({ ":path": "/", "accept-encoding": "gzip" });
        const chunks: Buffer[] = [];
        let headers: Record<string, string | string[] | undefined> = {};
        stream.on("response", (h) => (headers = h as Record<string, string | string[] | undefined>));
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks) }));
        stream.on("error", reject);
        stream.end();
      });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["x-frame-options"], "DENY");
      assert.equal(reply.body.toString(), INDEX, "index.html is under 1 KiB: sent as it is");
    } finally {
      session.destroy();
    }
  });
});
