import { checkRequest, type CheckInput } from "../test/support/envoy-client.js";

const BROWSER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "text/html,application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
};

/** How many clients the mix comes from; a request's client is its index modulo this. */
export const STOREFRONT_CLIENTS = 5000;

/** What a Check of the mix asks for: the kinds its decision shares are counted by. */
export type StorefrontKind = "asset" | "product" | "search" | "login" | "refresh";

/** Of every 50 requests: 25 assets, 13 product reads, 6 searches, 4 logins, 2 token refreshes. */
export function storefrontKind(index: number): StorefrontKind {
  const slot = index % 50;
  if (slot < 25) return "asset";
  if (slot < 38) return "product";
  if (slot < 44) return "search";
  if (slot < 48) return "login";
  return "refresh";
}

/**
 * Each client's browser headers, with a session cookie of its own: until 2026-12-08 every
 * client sent `sid=abc`, so the whole pool was one session and half the mix was denied.
 */
const CLIENT_HEADERS = Array.from({ length: STOREFRONT_CLIENTS }, (_, client) => ({ ...BROWSER, cookie: `sid=s${client.toString(36).padStart(4, "0")}; theme=dark` }));

/**
 * A storefront's request mix for the example policy: mostly assets and catalogue, some search,
 * a few logins and token refreshes, from a pool of clients. Deterministic by index.
 */
export function storefrontRequest(index: number, nowMs: number): object {
  const client = index % STOREFRONT_CLIENTS;
  const ip = `100.${64 + (client % 50)}.${Math.floor(client / 50) % 250}.${(client * 7) % 250}`;
  const headers = CLIENT_HEADERS[client]!;
  const post = (path: string, contentType: string, body: string): CheckInput => ({ method: "POST", path, ip, headers: { ...headers, "content-type": contentType }, body });
  let input: CheckInput;
  switch (storefrontKind(index)) {
    case "asset":
      input = { path: `/static/app.${index % 20}.js`, ip, headers };
      break;
    case "product":
      input = { path: `/api/v1/products/${(index * 7919) % 20_000}`, ip, headers };
      break;
    case "search":
      input = { path: `/api/v1/search?q=item${index % 300}`, ip, headers };
      break;
    case "login":
      input = post("/api/v1/login", "application/json", JSON.stringify({ username: `user${client}@example.com`, password: `pw-${client}` }));
      break;
    case "refresh":
      input = post("/oauth/token", "application/x-www-form-urlencoded", `grant_type=refresh_token&refresh_token=rt-${client}`);
  }
  return checkRequest({ ...input, timeMs: nowMs, requestId: `bench-${index}` });
}

/** What Envoy's rate-limit filter sends for the same mix, per examples/ratelimit.yaml. */
export function storefrontRateLimitRequest(index: number) {
  const client = index % STOREFRONT_CLIENTS;
  const address = `100.${64 + (client % 50)}.${Math.floor(client / 50) % 250}.${(client * 7) % 250}`;
  const endpoint = ["product", "search", "login", "static"][index % 4]!;
  return {
    domain: "storefront",
    descriptors: [
      { entries: [{ key: "remote_address", value: address }] },
      { entries: [{ key: "endpoint", value: endpoint }, { key: "remote_address", value: address }] },
    ],
  };
}
