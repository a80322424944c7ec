import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build the node embeds: transport/httpapi/console/dist, served at
// /console/ (so every asset URL starts with /console/assets/). Two pages:
// index.html, the console, and track.html, the customers' tracking page
// the node serves at /track/<token> (its own small bundle: no console
// code). The SDK is
// built from its TypeScript sources (clients/typescript/src, the same
// files its own build compiles), so the console needs neither the SDK's
// dist nor its node_modules; openapi-fetch comes from this package's
// node_modules. OUTRIDER_CONSOLE_OUT_DIR builds elsewhere (the staleness
// check, scripts/check-build.mjs).
const outDir = process.env.OUTRIDER_CONSOLE_OUT_DIR ?? fileURLToPath(new URL("../../transport/httpapi/console/dist", import.meta.url));

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  resolve: {
    alias: {
      "@outrider/client": fileURLToPath(new URL("../typescript/src/index.ts", import.meta.url)),
    },
    dedupe: ["openapi-fetch"],
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL("index.html", import.meta.url)),
        track: fileURLToPath(new URL("track.html", import.meta.url)),
      },
    },
  },
});
