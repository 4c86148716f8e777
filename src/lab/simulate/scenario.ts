import { readFile } from "node:fs/promises";
import ipaddr from "ipaddr.js";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { parseDuration } from "../../config/duration.js";

/**
 * A scenario set: the storefront's population and the abuse to mix into it. Every rate, size
 * and duration is a field here, so an operator edits a copy (`palisade simulate
 * --print-scenarios`) instead of the code. Objects are strict: a misspelt key is an error.
 */

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) ctx.addIssue({ code: "custom", message: `not a duration: "${text}" (use e.g. 30s, 5m, 1h)` });
  return ms ?? 0;
});

/** When something starts, from the scenario's start: a duration, or 0 ("0s") for the very start. */
const offset = z.string().transform((text, ctx) => {
  if (/^0+(ms|s|m|h)?$/.test(text.trim())) return 0;
  const ms = parseDuration(text);
  if (ms === undefined) ctx.addIssue({ code: "custom", message: `not a duration: "${text}" (use e.g. 0s, 30s, 5m)` });
  return ms ?? 0;
});

const share = z.number().min(0).max(1);
const rate = z.number().positive().describe("per second");

const cidr = z.string().refine((text) => {
  try {
    ipaddr.parseCIDR(text);
    return true;
  } catch {
    return false;
  }
}, "expected a CIDR block such as 198.18.0.0/15");

const pool = z.enum(["homes", "mobile", "corporate", "residential", "hosting", "crawlers"]);

const addresses = z
  .object({
    /** Home broadband of legitimate desktop users. */
    homes: z.array(cidr).min(1).default(["198.18.0.0/17"]),
    /** Mobile carriers: carrier-grade NAT (RFC 6598) and IPv6. */
    mobile: z.array(cidr).min(1).default(["100.64.0.0/12", "2001:db8:4000::/36"]),
    /** Shared corporate NAT gateways (TEST-NET-1). */
    corporate: z.array(cidr).min(1).default(["192.0.2.0/25"]),
    /** Residential proxies rented by attackers: consumer addresses, like the homes. */
    residential: z.array(cidr).min(1).default(["198.19.0.0/16", "2001:db8:8000::/36"]),
    /** Rented servers: the single hosts of bursts and scanners. */
    hosting: z.array(cidr).min(1).default(["192.0.2.128/25"]),
    /**
     * Verified search crawlers. A crawler is verified by its network, so this block must be one
     * the policy's allowed bots name (the example policy's Googlebot range).
     */
    crawlers: z.array(cidr).min(1).default(["66.249.64.0/19"]),
    /** The load balancer in front of Envoy: the TCP peer of every request. */
    loadBalancer: z.string().default("10.0.0.7"),
  })
  .strict();

const site = z
  .object({
    host: z.string().default("shop.example"),
    users: z.number().int().positive().default(20_000),
    products: z.number().int().positive().default(5_000),
    /** The share of all products that get most views (a Zipf-like head). */
    popularShare: share.default(0.05),
  })
  .strict();

const legit = z
  .object({
    sessionsPerMinute: z.number().min(0).default(60),
    mobileShare: share.default(0.4),
    /** Of the mobile visitors, those using the storefront's app (token endpoint) rather than a browser. */
    appShare: share.default(0.6),
    /** Sessions from people at work, behind a few shared NAT addresses. */
    corporateShare: share.default(0.25),
    corporateNats: z.number().int().positive().default(6),
    pagesPerSession: z.number().positive().default(8),
    thinkTimeMedian: duration.default(7_000),
    thinkTimeSigma: z.number().min(0).default(0.9),
    /** Web sessions that sign in; app sessions always hold or get a token. */
    loginShare: share.default(0.35),
    mistypeRate: share.default(0.08),
    /** App sessions that start with a token refresh rather than a password. */
    refreshShare: share.default(0.7),
    tokenLifetime: duration.default(300_000),
    /**
     * How long before its access token expires the app refreshes it, on its first request in
     * that time (real apps refresh up to a minute early). 0: only once it has expired.
     */
    refreshEarly: offset.default(0),
    /**
     * A mobile carrier's CGNAT: mobile visitors share this many public addresses (hundreds of
     * people behind each). 0: every mobile visitor has an address of its own.
     */
    cgnatAddresses: z.number().int().min(0).default(0),
    /** Web logins filled in by a password manager: sent the moment the page is there. */
    autofillShare: share.default(0),
    /** Of the autofilled logins, those that first send an outdated saved password. */
    stalePasswordShare: share.default(0),
    /** Wrong tries before the right one, for a visitor who mistypes (1 to this many). */
    mistypeAttempts: z.number().int().min(1).default(1),
    /** App sessions that move network mid-session (home Wi-Fi to mobile data), same device and cookies. */
    roamShare: share.default(0),
    /** Verified search-engine crawlers walking the catalogue, in requests per second (0: none). */
    crawlerRate: z.number().min(0).default(0),
    crawlerAddresses: z.number().int().positive().default(8),
    /**
     * Accounts that signed in before the window, from their owner's own computer, phone, app,
     * home and office (the share of the site's accounts; the rest never signed in here). Their
     * history reaches Palisade as `history` lines at the scenario's start. 0: every account is
     * new to Palisade, as on its first day.
     */
    returningShare: share.default(0),
    /**
     * Of the accounts that never signed in here, those created in the window: the first web
     * session of such an account registers it in its browser (`POST /api/v1/register`) at one of
     * its pages, at the latest right before its sign-in, which may come a moment later, pages
     * later or not in the window. 0: no sign-ups.
     */
    signUpShare: share.default(0),
  })
  .strict();

const spike = z
  .object({ at: offset, duration, factor: z.number().min(1) })
  .strict()
  .describe("A marketing e-mail lands: arrivals multiply for a while");

/**
 * Header realism: a tool's defaults, a bot that copies a browser's user agent but not the rest,
 * a browser's full header set in its own order, or that and a session: every address loads the
 * site's shell before its first request and keeps the cookie the site set; or that and a page:
 * each address is also shown a product page (its data, then its picture) before its first attempt.
 */
const client = z.enum(["scripted", "browser", "realistic", "session", "browsing"]);

const takeover = z
  .object({
    share: share.default(1),
    delay: duration.default(120_000),
    pages: z.number().int().min(0).default(6),
  })
  .strict();

const attackBase = {
  name: z.string().optional(),
  at: offset.default(0),
  duration,
  rate,
  sources: z.number().int().positive().default(1),
  pool: pool.default("hosting"),
  client: client.default("scripted"),
  /** A fresh client (user agent and headers) for every request: user-agent rotation. */
  rotate: z.boolean().default(false),
  /** Periodic bursts: active for `on`, silent for `off`, repeated. */
  pattern: z.object({ on: duration, off: duration }).strict().optional(),
};

const stuffing = z
  .object({
    ...attackBase,
    kind: z.literal("credential_stuffing"),
    endpoint: z.enum(["login", "token"]).default("login"),
    /** Combo-list entries whose username exists here. */
    knownUserShare: share.default(0.5),
    /** Entries whose password is right (for an existing user). */
    hitRate: share.default(0.01),
    takeover: takeover.optional(),
    /**
     * Password spraying: this many common passwords, each tried on many accounts (0: a combo
     * list, a different password every time).
     */
    passwords: z.number().int().min(0).default(0),
  })
  .strict();

const tokenReplay = z
  .object({
    ...attackBase,
    kind: z.literal("token_replay"),
    /** App users whose refresh tokens were stolen; each keeps using the app meanwhile. */
    victims: z.number().int().positive().default(5),
    /**
     * What was stolen: the token alone, or the whole cookie jar with the victim's headers
     * copied (the same device as far as headers can tell).
     */
    stolen: z.enum(["token", "jar"]).default("token"),
  })
  .strict();

const scraping = z
  .object({
    ...attackBase,
    kind: z.literal("scraping"),
    order: z.enum(["sequential", "random"]).default("sequential"),
    searchShare: share.default(0.1),
  })
  .strict();

const scanning = z.object({ ...attackBase, kind: z.literal("vulnerability_scan") }).strict();

const attack = z.discriminatedUnion("kind", [stuffing, scraping, scanning, tokenReplay]);

const scenario = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "lower-case letters, digits, '-' and '_'"),
    description: z.string().optional(),
    duration,
    legit: legit.partial().optional(),
    spike: spike.optional(),
    attacks: z.array(attack).default([]),
  })
  .strict();

const scenarioSetSchema = z
  .object({
    seed: z.number().int().default(1),
    start: z.iso.datetime().default("2026-03-02T09:00:00Z"),
    /** Quiet time between scenarios, longer than the policy's longest window, so none leaks into the next. */
    gap: duration.default(600_000),
    site: site.default(site.parse({})),
    addresses: addresses.default(addresses.parse({})),
    legit: legit.default(legit.parse({})),
    scenarios: z.array(scenario).min(1),
  })
  .strict();

export type ScenarioSet = z.output<typeof scenarioSetSchema>;
export type Scenario = z.output<typeof scenario>;
export type LegitSettings = z.output<typeof legit>;
export type AttackSettings = z.output<typeof attack>;
export type StuffingSettings = z.output<typeof stuffing>;
export type ScrapingSettings = z.output<typeof scraping>;
export type ScanSettings = z.output<typeof scanning>;
export type TokenReplaySettings = z.output<typeof tokenReplay>;
export type AddressPool = z.output<typeof pool>;

export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
}

/** Parses a scenario set from YAML or JSON text (JSON is YAML). */
export function parseScenarioSet(text: string, source: string): ScenarioSet {
  return scenarioSetFrom(parseLabYaml(text, source), source);
}

/** Validates an already parsed scenario set (the sweep builds one per point). */
export function scenarioSetFrom(document: unknown, source: string): ScenarioSet {
  return validated(scenarioSetSchema, document, source, "scenario set");
}

/** YAML (or JSON) text of a lab file, or a ScenarioError naming the file. */
export function parseLabYaml(text: string, source: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    throw new ScenarioError(`${source}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The document as the schema reads it, or a ScenarioError listing every issue by its path. */
export function validated<S extends z.ZodType>(schema: S, document: unknown, source: string, what: string): z.output<S> {
  const result = schema.safeParse(document);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new ScenarioError(`${source}: invalid ${what}\n  ${issues.join("\n  ")}`);
}

export async function loadScenarioSet(path: string): Promise<ScenarioSet> {
  return parseScenarioSet(await readFile(path, "utf8"), path);
}

/** Keeps only the named scenarios, in the file's order. */
export function selectScenarios(set: ScenarioSet, names: readonly string[] | undefined): ScenarioSet {
  if (!names || names.length === 0) return set;
  const unknown = names.filter((name) => !set.scenarios.some((s) => s.name === name));
  if (unknown.length > 0) throw new ScenarioError(`no scenario named ${unknown.join(", ")}`);
  return { ...set, scenarios: set.scenarios.filter((s) => names.includes(s.name)) };
}
