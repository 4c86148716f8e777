import type { CompiledSignals } from "../policy/signals.js";
import type { NormalisedRequest } from "../domain/request.js";
import { claimsBrowser } from "./login.js";
import type { Signal } from "./signal.js";

/** Headers every mainstream browser sends on a navigation or fetch; scripts often forget them. */
const BROWSER_HEADERS = ["accept", "accept-language", "accept-encoding"] as const;

/**
 * HTTP libraries, headless browsers and crawling frameworks that say what they are. okhttp is
 * left out on purpose: Android apps, the storefront's own among them, are built on it.
 */
const LIBRARY_AGENT =
  /\b(curl|wget|python-requests|python-urllib|aiohttp|httpx|go-http-client|java\/|axios|node-fetch|undici|libwww-perl|scrapy|headlesschrome|phantomjs|puppeteer|playwright|selenium)\b/i;

/**
 * Scripts: a library or headless user agent (`client.library`); a browser user agent without
 * the headers browsers send (`client.automation`, value = how many are missing); a browser user
 * agent over a TLS handshake no listed browser makes (`client.tls_mismatch`).
 */
export function automationSignals(request: NormalisedRequest, signals: CompiledSignals): Signal[] {
  const tlsFingerprint = request.tlsFingerprint;
  const config = signals.automation;
  if (!config) return [];
  const userAgent = request.headers.get("user-agent") ?? "";
  if (LIBRARY_AGENT.test(userAgent)) {
    return [{ code: "client.library", value: 1, weight: config.libraryWeight, fired: true, detail: "library or headless user agent" }];
  }
  if (!claimsBrowser(request)) return [];
  const found: Signal[] = [];
  const missing = BROWSER_HEADERS.filter((name) => !request.headers.has(name)).length;
  if (missing > 0) {
    found.push({ code: "client.automation", value: missing, threshold: 0, weight: config.weight, fired: true, detail: "claims a browser, lacks browser headers" });
  }
  if (tlsFingerprint && config.tlsBrowserFingerprints.length > 0 && !config.tlsBrowserFingerprints.includes(tlsFingerprint)) {
    found.push({ code: "client.tls_mismatch", value: 1, weight: config.weight, fired: true, detail: "TLS handshake of no listed browser" });
  }
  return found;
}
