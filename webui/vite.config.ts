import { defineConfig } from "vite";

// Core (aiohttp, port 8080) serves the built page from webui/dist in production.
// In development the Vite dev server forwards API and health calls to a local core.
const coreUrl = "http://127.0.0.1:8080";

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
  },
  server: {
    proxy: {
      "/api": coreUrl,
      "/healthz": coreUrl,
      "/readyz": coreUrl,
    },
  },
});
