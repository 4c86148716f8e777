import { accessSync, constants } from "node:fs";
import path from "node:path";

/**
 * HTML to PDF with a Chromium that is already installed (Debian's `chromium` package, or any
 * Chromium or Chrome named by --chromium / PALISADE_CHROMIUM), driven by playwright-core.
 * playwright-core never downloads a browser by itself, and neither does this.
 */
export function findChromium(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const named = explicit ?? env.PALISADE_CHROMIUM;
  if (named) return named;
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
      const candidate = path.join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new Error("no Chromium found on PATH: install Debian's chromium package, or name one with --chromium or PALISADE_CHROMIUM");
}

export async function printPdf(html: string, outFile: string, chromiumPath: string): Promise<void> {
  const { chromium } = await import("playwright-core");
  // Chromium's sandbox cannot start as root (containers, CI); a non-root user keeps it.
  const args = process.getuid?.() === 0 ? ["--no-sandbox"] : [];
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args });
  try {
    const page = await browser.newPage();
    // The report has no script and loads nothing: offline is how it must print.
    await page.context().setOffline(true);
    await page.setContent(html, { waitUntil: "load" });
    await page.pdf({ path: outFile, format: "A4", printBackground: true, margin: { top: "14mm", bottom: "14mm", left: "12mm", right: "12mm" } });
  } finally {
    await browser.close();
  }
}
