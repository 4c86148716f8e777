import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { AdminServer } from "./admin.js";
import { problem } from "./problem.js";

/**
 * The analyst console at /console/: static files from the package's console/ folder and uPlot
 * from its npm package, nothing from elsewhere. The files are public (they hold no data); every
 * figure the page shows comes from the analyst API with the token the analyst signs in with.
 */
const CONSOLE_MARKER = path.join("console", "console.js");

/** The nearest console/ folder above this module: from src/ (tsx, vitest) and from dist/src/ alike. */
export function findConsoleDir(startDir: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, CONSOLE_MARKER))) return path.join(dir, "console");
    if (path.dirname(dir) === dir) throw new Error(`Palisade console folder not found above ${startDir}`);
  }
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };

/**
 * Scripts only from this origin; styles from it plus the inline styles uPlot and the report
 * set; the report preview is a sandboxed srcdoc frame; nothing may frame the console.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function registerConsole(admin: AdminServer, consoleDir: string = findConsoleDir()): void {
  const require = createRequire(import.meta.url);
  const uplotDir = path.dirname(require.resolve("uplot/dist/uPlot.iife.min.js"));
  const files = new Map<string, string>([
    ["index.html", path.join(consoleDir, "index.html")],
    ["console.js", path.join(consoleDir, "console.js")],
    ["console.css", path.join(consoleDir, "console.css")],
    ["uPlot.iife.min.js", path.join(uplotDir, "uPlot.iife.min.js")],
    ["uPlot.min.css", path.join(uplotDir, "uPlot.min.css")],
  ]);
  // Read once at start-up: a few hundred kilobytes, and a missing file fails start-up, not a page.
  const contents = new Map([...files].map(([name, file]) => [name, readFileSync(file)]));
  const serve = (name: string) => {
    const body = contents.get(name);
    if (!body) return problem(404, "no such console file");
    const type = TYPES[path.extname(name)] ?? "application/octet-stream";
    return { status: 200, headers: { "content-type": type, "content-security-policy": CONSOLE_CSP, "referrer-policy": "no-referrer", "x-frame-options": "DENY" }, body };
  };
  admin.route({ method: "GET", url: "/console", summary: "The analyst console", tags: ["console"], handler: async () => ({ status: 308, headers: { location: "/console/" } }) });
  admin.route({ method: "GET", url: "/console/", summary: "The analyst console", tags: ["console"], handler: async () => serve("index.html") });
  admin.route({
    method: "GET",
    url: "/console/:file",
    summary: "The console's scripts and styles",
    tags: ["console"],
    params: z.object({ file: z.string().min(1).max(64) }),
    handler: async ({ params }) => serve(params.file),
  });
}
