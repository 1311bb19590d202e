import { defineConfig } from "vite";

/**
 * The web app's build. Output: apps/web/dist (index.html + content-hashed assets under
 * assets/), which the edge serves. `npm run dev -w apps/web` serves the sources with hot
 * reload and forwards every RPC path (/<package>.<Service>/<Method>) to a running edge.
 */
// The dev server forwards RPCs here. @default http://localhost:8080 (the edge's default port)
const edge = process.env["TRELLIS_EDGE_URL"] ?? "http://localhost:8080";

export default defineConfig({
  root: import.meta.dirname,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    // Budget check: the whole app is expected to stay well under this.
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: {
      "^/trellis\\.[a-z0-9_.]+\\.v\\d+\\.[A-Za-z]+Service/": {
        target: edge,
        changeOrigin: false,
        configure(proxy) {
          // The proxy sends response headers with the first body bytes, so a quiet stream's
          // headers — which tell the app the stream is live — would wait for its first event.
          proxy.on("proxyRes", (_upstream, _request, response) => {
            process.nextTick(() => {
              if ("flushHeaders" in response && !response.headersSent) response.flushHeaders();
            });
          });
        },
      },
    },
  },
});
