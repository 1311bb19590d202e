import { defineConfig } from "vite";

/**
 * The protocol probe: a page the browser tests load (through Playwright, on the edge's origin)
 * to call the edge with Connect-ES' own web transports from inside Chromium. Test-only: built
 * into e2e/dist/probe-page (e2e/dist/probe holds tsc's output of probe.ts, for its types),
 * never into the app the edge serves.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/__probe/",
  logLevel: "warn",
  build: { outDir: "../dist/probe-page", emptyOutDir: true },
});
