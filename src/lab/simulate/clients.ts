import type { Random } from "./random.js";

/**
 * How clients present themselves: the headers a browser, the storefront's mobile app or an
 * attack tool sends, in its own order. Browsers send rich, consistent headers; tools send few.
 */
export interface ClientProfile {
  kind: "desktop" | "mobile-web" | "app" | "scripted" | "bot-browser" | "crawler";
  headers: [string, string][];
  http2: boolean;
}

const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const LANGUAGES = ["en-GB,en;q=0.9", "en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9,en;q=0.7", "nl-NL,nl;q=0.9,en;q=0.8", "es-ES,es;q=0.9"];

const DESKTOP_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];
const MOBILE_WEB_AGENTS = [
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
];
const APP_AGENTS = ["Storefront/5.2.1 (iPhone; iOS 17.6; Scale/3.00)", "Storefront-Android/5.2.0 (Linux; Android 14) okhttp/4.12.0"];
const TOOL_AGENTS = ["python-requests/2.32.3", "curl/8.5.0", "Go-http-client/1.1", "axios/1.7.7", "Java/17.0.9"];

export function browserClient(random: Random, mobile: boolean): ClientProfile {
  return {
    kind: mobile ? "mobile-web" : "desktop",
    headers: [
      ["user-agent", random.pick(mobile ? MOBILE_WEB_AGENTS : DESKTOP_AGENTS)],
      ["accept", BROWSER_ACCEPT],
      ["accept-language", random.pick(LANGUAGES)],
      ["accept-encoding", "gzip, deflate, br, zstd"],
    ],
    http2: true,
  };
}

export function appClient(random: Random): ClientProfile {
  return {
    kind: "app",
    headers: [
      ["user-agent", random.pick(APP_AGENTS)],
      ["accept", "application/json"],
      ["accept-language", random.pick(LANGUAGES).split(",")[0]!],
      ["accept-encoding", "gzip"],
    ],
    http2: true,
  };
}

/** An attack tool: a library's default user agent and headers. */
export function scriptedClient(random: Random): ClientProfile {
  return {
    kind: "scripted",
    headers: [
      ["user-agent", random.pick(TOOL_AGENTS)],
      ["accept", "*/*"],
      ["accept-encoding", "gzip, deflate"],
    ],
    http2: false,
  };
}

/** A bot that copies a browser's user agent but not the rest of its headers. */
export function botBrowserClient(random: Random): ClientProfile {
  const headers: [string, string][] = [
    ["user-agent", random.pick(DESKTOP_AGENTS)],
    ["accept", random.chance(0.5) ? BROWSER_ACCEPT : "*/*"],
  ];
  if (random.chance(0.6)) headers.push(["accept-language", random.pick(LANGUAGES)]);
  headers.push(["accept-encoding", "gzip, deflate"]);
  return { kind: "bot-browser", headers, http2: random.chance(0.3) };
}

/** A search engine's crawler: its own user agent, few headers. */
export function crawlerClient(): ClientProfile {
  return {
    kind: "crawler",
    headers: [
      ["user-agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"],
      ["accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
      ["accept-encoding", "gzip, deflate, br"],
    ],
    http2: false,
  };
}

/**
 * "realistic": a real browser's full header set; "session": the same, and each address loads the
 * site first and keeps the cookie it sets, as a headless browser does (sources.ts); "browsing": that,
 * and each address is shown a product page (its data, then its picture) before its first attempt.
 */
export type HeaderRealism = "scripted" | "browser" | "realistic" | "session" | "browsing";

/** An attacker's client at a level of header realism. */
export function attackClient(random: Random, style: HeaderRealism): ClientProfile {
  if (style === "scripted") return scriptedClient(random);
  return style === "browser" ? botBrowserClient(random) : browserClient(random, false);
}
