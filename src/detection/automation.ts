import type { CompiledSignals } from "../policy/signals.js";
import type { NormalisedRequest } from "../pipeline/request.js";
import { claimsBrowser } from "./login.js";
import type { Signal } from "./signal.js";

/** Headers every mainstream browser sends on a navigation or fetch; scripts often forget them. */
const BROWSER_HEADERS = ["accept", "accept-language", "accept-encoding"] as const;

/**
 * A client that says it is a browser but does not send what browsers send is a script with a
 * borrowed user agent (`client.automation`, value = how many browser headers are missing).
 */
export function automationSignals(request: NormalisedRequest, signals: CompiledSignals): Signal[] {
  if (!signals.automation || !claimsBrowser(request)) return [];
  const missing = BROWSER_HEADERS.filter((name) => !request.headers.has(name)).length;
  return missing > 0
    ? [{ code: "client.automation", value: missing, threshold: 0, weight: signals.automation.weight, fired: true, detail: "claims a browser, lacks browser headers" }]
    : [];
}
