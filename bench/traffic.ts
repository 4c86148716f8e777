import { checkRequest, type CheckInput } from "../test/support/envoy-client.js";

const BROWSER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
  accept: "text/html,application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, br",
  cookie: "sid=abc; theme=dark",
};

/**
 * A storefront's request mix for the example policy: mostly assets and catalogue, some search,
 * a few logins and token refreshes, from a pool of clients. Deterministic by index.
 */
export function storefrontRequest(index: number, nowMs: number): object {
  const client = index % 5000;
  const ip = `100.${64 + (client % 50)}.${Math.floor(client / 50) % 250}.${(client * 7) % 250}`;
  const kind = index % 50;
  let input: CheckInput;
  if (kind < 25) input = { path: `/static/app.${index % 20}.js`, ip, headers: BROWSER };
  else if (kind < 38) input = { path: `/api/v1/products/${(index * 7919) % 20_000}`, ip, headers: BROWSER };
  else if (kind < 44) input = { path: `/api/v1/search?q=item${index % 300}`, ip, headers: BROWSER };
  else if (kind < 48) {
    input = {
      method: "POST",
      path: "/api/v1/login",
      ip,
      headers: { ...BROWSER, "content-type": "application/json" },
      body: JSON.stringify({ username: `user${client}@example.com`, password: `pw-${client}` }),
    };
  } else {
    input = {
      method: "POST",
      path: "/oauth/token",
      ip,
      headers: { ...BROWSER, "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=refresh_token&refresh_token=rt-${client}`,
    };
  }
  return checkRequest({ ...input, timeMs: nowMs, requestId: `bench-${index}` });
}

/** What Envoy's rate-limit filter sends for the same mix, per examples/ratelimit.yaml. */
export function storefrontRateLimitRequest(index: number) {
  const client = index % 5000;
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
