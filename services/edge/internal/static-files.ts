import { createReadStream, type Stats } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, constants as zlib, gzip } from "node:zlib";
import type { EdgeRequest, EdgeResponse } from "./http-io.js";

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
  ".wasm": "application/wasm",
};
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt", ".webmanifest", ".ico", ".wasm"]);
// Vite's hashed output (`assets/index-BQ3xk2Zp.js`): its name changes with its content, so it never goes stale.
const HASHED = /[.-][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
/** Files compressed on the fly are cached, bounded in bytes (a web app's assets are a few hundred KiB). */
const CACHE_BYTES = 16 * 1024 * 1024;
/** Larger files are sent uncompressed rather than compressed in memory. */
const MAX_COMPRESS_BYTES = 8 * 1024 * 1024;

/** Options of {@link createStaticFiles}. */
export interface StaticFilesOptions {
  /** The built web app (index.html at its root). */
  readonly root: string;
  /** The pages' Content-Security-Policy. */
  readonly csp: string;
}

/** The web app's files. */
export interface StaticFiles {
  /** Serves GET/HEAD `path` (decoded, without the query). */
  serve(request: EdgeRequest, response: EdgeResponse, path: string): Promise<void>;
}

/**
 * Serves the built web app: security headers on every response (CSP,
 * nosniff, frame and referrer policies), hashed assets cached for a year
 * as immutable and index.html revalidated every time, Brotli or gzip from
 * precompressed `.br`/`.gz` siblings when the build made them and compressed
 * on the fly (and cached) otherwise, ETags and 304s, and the app's
 * index.html for client-side routes. Hand-written rather than `serve-static`:
 * that has no precompressed variants nor on-the-fly compression and assumes
 * node:http's response (the edge answers on HTTP/2 too).
 */
export function createStaticFiles(options: StaticFilesOptions): StaticFiles {
  const root = resolve(options.root);
  const security: Record<string, string> = {
    "content-security-policy": options.csp,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  };
  const cache = new Map<string, Buffer>();
  let cachedBytes = 0;
  const remember = (key: string, bytes: Buffer): void => {
    if (bytes.byteLength > CACHE_BYTES / 4) return;
    while (cachedBytes + bytes.byteLength > CACHE_BYTES && cache.size > 0) {
      const [oldest, value] = cache.entries().next().value as [string, Buffer];
      cache.delete(oldest);
      cachedBytes -= value.byteLength;
    }
    cache.set(key, bytes);
    cachedBytes += bytes.byteLength;
  };

  const fileAt = async (path: string): Promise<{ file: string; stats: Stats } | undefined> => {
    const file = resolve(root, "." + path);
    if (file !== root && !file.startsWith(root + sep)) return undefined;
    try {
      const stats = await stat(file);
      if (stats.isDirectory()) {
        const index = join(file, "index.html");
        const indexStats = await stat(index);
        return indexStats.isFile() ? { file: index, stats: indexStats } : undefined;
      }
      return stats.isFile() ? { file, stats } : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    async serve(request, response, path) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { ...security, allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
        response.end("only GET and HEAD are served here\n");
        return;
      }
      if (path.includes("\0") || path.split("/").includes("..")) {
        response.writeHead(400, { ...security, "content-type": "text/plain; charset=utf-8" });
        response.end("bad path\n");
        return;
      }
      let found = await fileAt(path);
      // A client-side route (no extension) of a browser navigation gets the app.
      if (found === undefined && extname(path) === "" && String(request.headers.accept ?? "").includes("text/html"))
        found = await fileAt("/index.html");
      if (found === undefined) {
        const app = await fileAt("/index.html");
        response.writeHead(404, {
          ...security,
          "content-type": app === undefined ? "text/html; charset=utf-8" : "text/plain; charset=utf-8",
          "cache-control": "no-cache",
        });
        response.end(app === undefined ? placeholder(root) : `not found: ${path}\n`);
        return;
      }
      const { file, stats } = found;
      const ext = extname(file);
      const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
      const headers: Record<string, string> = {
        ...security,
        "content-type": TYPES[ext] ?? "application/octet-stream",
        "cache-control": HASHED.test(file) && file.includes(`${sep}assets${sep}`) ? "public, max-age=31536000, immutable" : "no-cache",
        etag,
        "last-modified": stats.mtime.toUTCString(),
        vary: "Accept-Encoding",
      };
      if (request.headers["if-none-match"] === etag) {
        response.writeHead(304, headers);
        response.end();
        return;
      }
      const accepts = String(request.headers["accept-encoding"] ?? "");
      const encodings = COMPRESSIBLE.has(ext)
        ? (["br", "gzip"] as const).filter((e) => new RegExp(`\\b${e}\\b(?!;q=0(\\.0*)?\\b)`).test(accepts))
        : [];
      for (const encoding of encodings) {
        // Precompressed by the build: the sibling file as it is.
        const sibling = await fileAt(relativeUrl(root, file) + (encoding === "br" ? ".br" : ".gz"));
        if (sibling !== undefined) {
          response.writeHead(200, { ...headers, "content-encoding": encoding, "content-length": String(sibling.stats.size) });
          if (request.method === "HEAD") return void response.end();
          createReadStream(sibling.file)
            .on("error", () => response.destroy())
            .pipe(response);
          return;
        }
      }
      const encoding = encodings[0];
      if (encoding !== undefined && stats.size >= 1024 && stats.size <= MAX_COMPRESS_BYTES) {
        const key = `${file}\0${etag}\0${encoding}`;
        let body = cache.get(key);
        if (body === undefined) {
          const plain = await readFile(file);
          body =
            encoding === "br"
              ? await brotli(plain, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: plain.byteLength } })
              : await gzipAsync(plain, { level: 6 });
          remember(key, body);
        }
        response.writeHead(200, { ...headers, "content-encoding": encoding, "content-length": String(body.byteLength) });
        if (request.method === "HEAD") response.end();
        else response.end(body);
        return;
      }
      response.writeHead(200, { ...headers, "content-length": String(stats.size) });
      if (request.method === "HEAD") return void response.end();
      createReadStream(file)
        .on("error", () => response.destroy())
        .pipe(response);
    },
  };
}

function relativeUrl(root: string, file: string): string {
  return file.slice(root.length).split(sep).join("/");
}

function placeholder(root: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trellis edge</title></head>
<body><main><h1>The web app is not built</h1>
<p>The edge serves the web app from <code>${escapeHtml(root)}</code>, which has no <code>index.html</code>.
Build it (<code>npm run build</code> builds <code>apps/web</code> into <code>apps/web/dist</code>) or point <code>EDGE_WEB_DIR</code> at a build.</p>
<p>The APIs work without it: gRPC-Web and Connect at <code>/&lt;package.Service&gt;/&lt;Method&gt;</code>, REST under <code>/v1/</code>.</p>
</main></body></html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
