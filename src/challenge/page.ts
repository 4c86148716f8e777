import { createHash } from "node:crypto";
import type { Challenge } from "altcha-lib";
import type { ChallengeText } from "../policy/challenge-schema.js";

/** Everything the challenge page shows and needs; all of it comes from Palisade. */
export interface ChallengePage {
  challenge: Challenge;
  language: string;
  text: ChallengeText;
  /** Same-origin paths Envoy routes to Palisade's challenge listener. */
  scriptUrl: string;
  verifyUrl: string;
  supportUrl?: string;
  decisionId: string;
}

/**
 * The page sent with a `challenge` denial to a browser. Self-contained: the widget script comes
 * from Palisade's own listener on the same origin and the Content-Security-Policy beside it
 * forbids any other source. After the widget solves the proof of work the
 * page posts the solution, receives the pass cookie and loads the original address again.
 */
export function renderChallengePage(page: ChallengePage): { html: string; securityPolicy: string } {
  const { text } = page;
  const { script, securityPolicy } = pageScript(text, page.language, page.verifyUrl);
  const configuration = { challenge: page.challenge, auto: "onload", hideFooter: true, hideLogo: true, language: page.language, minDuration: 0 };
  const support = page.supportUrl ? `\n<p><a href="${escapeHtml(page.supportUrl)}">${escapeHtml(text.support)}</a></p>` : "";
  const html = `<!doctype html>
<html lang="${escapeHtml(page.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(text.title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 2rem 1rem; color: #1a1a1a; background: #fafafa; line-height: 1.5; }
main { max-width: 34rem; margin: 0 auto; }
h1 { font-size: 1.5rem; }
small { color: #555; }
@media (prefers-color-scheme: dark) { body { color: #eee; background: #161616; } small { color: #bbb; } a { color: #9cf; } }
</style>
<script type="module" src="${escapeHtml(page.scriptUrl)}"></script>
</head>
<body>
<main>
<h1>${escapeHtml(text.heading)}</h1>
<p>${escapeHtml(text.explanation)}</p>
<altcha-widget id="palisade-widget" configuration="${escapeHtml(JSON.stringify(configuration))}"></altcha-widget>
<p id="palisade-status" role="status" aria-live="polite"></p>
<noscript><p><strong>${escapeHtml(text.noscript)}</strong></p></noscript>${support}
<p><small>${escapeHtml(text.reference)}: ${escapeHtml(page.decisionId)}</small></p>
</main>
<script type="module">${script}</script>
</body>
</html>
`;
  return { html, securityPolicy };
}

/** The inline script and the policy with its hash, by text, then language and verify path. */
const pageScripts = new WeakMap<ChallengeText, Map<string, { script: string; securityPolicy: string }>>();

/**
 * The page's inline script and the Content-Security-Policy naming it by hash: the same for every
 * challenge in one language under one policy, so made once for each (a page per challenge made
 * both afresh, a SHA-256 and a dozen replacements each time). The texts are the compiled
 * policy's objects, so a reloaded policy starts afresh and the old entries go with it.
 */
function pageScript(text: ChallengeText, language: string, verifyUrl: string): { script: string; securityPolicy: string } {
  let byPage = pageScripts.get(text);
  if (!byPage) pageScripts.set(text, (byPage = new Map()));
  const key = `${language}\u0000${verifyUrl}`;
  let made = byPage.get(key);
  if (!made) {
    const script = inlineScript(text, language, verifyUrl);
    byPage.set(key, (made = { script, securityPolicy: securityPolicyFor(script) }));
  }
  return made;
}

function inlineScript(text: ChallengeText, language: string, verifyUrl: string): string {
  return `
const text = ${scriptJson({ label: text.label, working: text.working, solved: text.solved, failed: text.failed })};
const verifyUrl = ${scriptJson(verifyUrl)};
const widget = document.getElementById("palisade-widget");
const status = document.getElementById("palisade-status");
const english = globalThis.$altcha?.i18n.get("en") ?? {};
globalThis.$altcha?.i18n.set(${scriptJson(language)}, { ...english, label: text.label, verifying: text.working, verified: text.solved, error: text.failed });
widget.addEventListener("statechange", (event) => {
  if (event.detail.state === "verifying") status.textContent = text.working;
  if (event.detail.state === "error" || event.detail.state === "expired") status.textContent = text.failed;
});
widget.addEventListener("verified", async (event) => {
  status.textContent = text.solved;
  try {
    const response = await fetch(verifyUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ payload: event.detail.payload }),
    });
    if (!response.ok) throw new Error(String(response.status));
    location.replace(location.href);
  } catch {
    status.textContent = text.failed;
  }
});`;
}

/**
 * Only Palisade's own script and the inline one above may run (by hash, so no nonce is needed);
 * the widget's workers are blob: URLs and it inserts its own styles; nothing may be fetched from
 * anywhere but this origin.
 */
function securityPolicyFor(inlineScript: string): string {
  const hash = createHash("sha256").update(inlineScript).digest("base64");
  return [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "worker-src blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is safe inside a <script> element: no `</script>` or HTML comment can close it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/**
 * The page language: the first of the client's Accept-Language tags (in its order of
 * preference) that the policy has text for, by full tag or by primary language; else English.
 */
export function chooseLanguage(acceptLanguage: string | undefined, available: ReadonlyMap<string, unknown>): string {
  const wanted = (acceptLanguage ?? "")
    .slice(0, 512)
    .split(",")
    .map((part) => {
      const [tag = "", ...params] = part.trim().toLowerCase().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      return { tag: tag.trim(), q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((entry) => entry.tag !== "" && entry.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { tag } of wanted) {
    if (available.has(tag)) return tag;
    const primary = tag.split("-")[0]!;
    if (available.has(primary)) return primary;
  }
  return "en";
}

/** Browsers navigating ask for HTML; API clients and fetch() calls do not. */
export function acceptsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}
