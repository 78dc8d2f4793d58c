import { defineConfig } from "vite";

// Core (aiohttp, port 8080) serves the built page from webui/dist in production.
// In development the Vite dev server forwards API and health calls to a local core.
const coreUrl = "http://127.0.0.1:8080";

export default defineConfig({
  // React's automatic JSX runtime, compiled by Vite's own transformer (no plugin needed).
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
  },
  server: {
    proxy: {
      "/api": { target: coreUrl, ws: true },
      "/healthz": coreUrl,
      "/readyz": coreUrl,
    },
  },
});
