import { z } from "zod";
import { ACTIONS, SCOPES } from "../domain/decision.js";
import { HEADER_CEILING } from "../domain/request.js";
import { parseDuration } from "../config/duration.js";
import { challengeSpec } from "./challenge-schema.js";
import { adaptiveLimitSpec, responseSpec } from "./response-schema.js";

/** The largest `cohorts.sessionAccounts.threshold`: a session's accounts are remembered up to one more. */
export const MAX_SESSION_ACCOUNTS_THRESHOLD = 16;

/**
 * The policy document operators edit in a ConfigMap. Every object is strict: an unknown key is
 * an error, so `treshold:` typed for `threshold:` is caught instead of silently ignored.
 */

const duration = z
  .string()
  .describe('A duration such as "500ms", "30s", "5m", "1h" or "180d"')
  .superRefine((value, ctx) => {
    if (parseDuration(value) === undefined) {
      ctx.addIssue({ code: "custom", message: `not a duration: "${value}" (use e.g. 30s, 5m, 1h, 7d)` });
    }
  });

const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9_.-]{0,62}[a-z0-9])?$/, "lower-case letters, digits, '.', '_' and '-', 1-64 characters");

const failMode = z
  .enum(["open", "closed", "error"])
  .describe(
    "When the store cannot answer: open = decide from local state and allow if unsure (annotated degraded); " +
      "closed = deny with 503-like throttle; error = answer a gRPC error so Envoy's failure_mode_allow decides",
  );

const threshold = z
  .object({
    window: duration.describe("Length of the sliding window"),
    threshold: z.number().int().positive().describe("Requests in the window above which the signal fires"),
    weight: z.number().int().min(0).max(100).default(30).describe("Risk points added when it fires"),
  })
  .strict();

const fieldSource = z.union([
  z.object({ jsonPointer: z.string().regex(/^\//, "a JSON pointer starts with '/'") }).strict(),
  z.object({ formField: z.string().min(1) }).strict(),
  z.object({ header: z.string().min(1).toLowerCase() }).strict(),
  z.object({ cookie: z.string().min(1) }).strict(),
]);

const statusList = z.array(z.number().int().min(100).max(599));
const headerValues = z.object({ name: z.string().min(1).toLowerCase(), values: z.array(z.string()).min(1) }).strict();

/**
 * Some login pages answer 200 to a failed login, so a response header the identity service
 * sets can say what happened; the status code is used where the header is absent.
 */
const outcome = z
  .object({
    failureStatus: statusList.default([400, 401, 403]),
    successStatus: statusList.default([200, 201, 204, 302, 303]),
    unknownUserStatus: statusList.default([]).describe("Statuses meaning the username does not exist"),
    failureHeader: headerValues.optional(),
    unknownUserHeader: headerValues.optional(),
    createdHeader: headerValues
      .optional()
      .describe(
        "Registration endpoints: the response header the application sets only when it created an account. A success status " +
          "without it teaches nothing, since many sites answer a sign-up for an existing address as a success",
      ),
  })
  .strict();

const endpoint = z
  .object({
    name,
    match: z
      .object({
        methods: z.array(z.string().toUpperCase()).optional().describe("HTTP methods; any when absent"),
        path: z
          .string()
          .regex(/^\//, "a path starts with '/'")
          .optional()
          .describe("Exact path; a segment written {name} matches any one segment"),
        pathPrefix: z.string().regex(/^\//, "a path prefix starts with '/'").optional(),
      })
      .strict()
      .refine((m) => (m.path === undefined) !== (m.pathPrefix === undefined), {
        message: "give exactly one of path or pathPrefix",
      }),
    sensitivity: z.enum(["low", "medium", "high", "critical"]).default("medium"),
    authentication: z.boolean().default(false).describe("A login or token endpoint: its outcomes are learned"),
    registration: z
      .boolean()
      .default(false)
      .describe(
        "A sign-up endpoint: a registration the application marked as created (outcome.createdHeader) teaches the new account's history its device and network, as a sign-in does",
      ),
    failMode: failMode.optional().describe("Overrides spec.failMode for this endpoint"),
    identity: z
      .object({
        username: fieldSource.optional(),
        password: fieldSource
          .optional()
          .describe("Read in memory only: hashed for the breached-password and spraying checks, then forgotten"),
        session: fieldSource.optional().describe("Session id or refresh token: watched for replay from many IPs"),
      })
      .strict()
      .default({}),
    outcome: outcome.optional().describe("How the application says a login or registration failed (authentication and registration endpoints)"),
    resource: z
      .object({
        param: z.string().min(1).describe("The path template's {param} that names the resource, e.g. id"),
      })
      .strict()
      .optional()
      .describe("A catalogue endpoint: its resource ids are watched for enumeration"),
    pageView: z
      .boolean()
      .default(false)
      .describe("Requests here are page or asset views that a browser makes before it logs in"),
    velocity: z
      .object({ ip: threshold.optional(), subnet: threshold.optional(), username: threshold.optional() })
      .strict()
      .default({}),
  })
  .strict()
  .refine((e) => !(e.authentication && e.registration), {
    message: "an endpoint signs accounts in (authentication) or registers them (registration), not both",
    path: ["registration"],
  })
  .refine((e) => e.registration || e.outcome?.createdHeader === undefined, {
    message: "createdHeader marks a created account: only a registration endpoint has one",
    path: ["outcome", "createdHeader"],
  });

const feed = z
  .object({
    source: z
      .string()
      .min(1)
      .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^https?:\/\//i.test(value), { message: "a feed is a file path or an http(s):// URL" })
      .describe("A file path, or an http:// or https:// URL"),
    format: z
      .enum(["plain", "netset", "spamhaus", "csv", "json"])
      .default("plain")
      .describe("plain: one address or CIDR per line; netset: FireHOL; spamhaus: DROP/EDROP text or JSON lines; csv: see column; json: published range files (ipv4Prefix, ipv6Prefix, ip_prefix…)"),
    column: z
      .union([z.string().min(1), z.number().int().positive()])
      .optional()
      .describe("csv only: the header name or 1-based number of the column holding the address"),
    refresh: duration.default("1h").describe("How often the feed is loaded again; a failed load keeps the last good copy"),
  })
  .strict();

const cidrList = z
  .object({
    name,
    effect: z
      .enum(["block", "allow", "label"])
      .describe("block = deny at once; allow = skip the rules (trusted partner); label = only visible to rules"),
    cidrs: z.array(z.string()).default([]),
    files: z.array(z.string()).default([]).describe("Files with one CIDR per line (mounted lists)"),
    feeds: z
      .array(feed)
      .default([])
      .describe("Large or changing lists the service loads itself and refreshes on a schedule, keeping the last good copy"),
    weight: z.number().int().min(0).max(100).default(0),
  })
  .strict();

const windowed = <T extends z.ZodRawShape>(scopes: T) =>
  z.object({ window: duration.default("10m"), ...scopes }).strict();
const weight = z.number().int().min(0).max(100);
const countThreshold = z.object({ threshold: z.number().int().positive(), weight: weight.default(30) }).strict();
const flagWeight = z.object({ weight: weight.default(20) }).strict();

/**
 * Site-wide rate and failure ratio of one endpoint against baselines learned by hour of day, and
 * the cohort that looks like the anomalous traffic. Logins fail with a wrong password; catalogue
 * requests "fail" with a 404.
 */
const siteAnomaly = z
  .object({
    zScore: z.number().positive().default(3).describe("How many standard deviations above the baseline is anomalous"),
    minSamples: z.number().int().positive().default(30).describe("Minutes a baseline must have seen before it is trusted"),
    learningRate: z.number().gt(0).lte(1).default(0.05),
    priors: z
      .object({
        attemptsPerMinute: z.number().nonnegative().default(60),
        attemptsPerMinuteStddev: z.number().positive().default(30),
        failureRatio: z.number().min(0).max(1).default(0.15),
        failureRatioStddev: z.number().positive().default(0.1),
      })
      .strict()
      .default({ attemptsPerMinute: 60, attemptsPerMinuteStddev: 30, failureRatio: 0.15, failureRatioStddev: 0.1 }),
    minAttemptsPerMinute: z.number().int().nonnegative().default(20).describe("Below this volume no anomaly is called"),
    weight: weight.default(10),
    cohortWeight: weight.default(35).describe("Added to requests that look like the anomalous traffic"),
    campaign: z
      .object({
        distinctFailingShare: z
          .number()
          .gt(0)
          .lte(1)
          .default(0.8)
          .describe("Distinct usernames that failed and did not sign in, per failed login over the last two minutes, at or above which a failure-ratio anomaly is a campaign (a prior: no baseline)"),
        early: z
          .object({
            failingAccounts: z.number().int().min(2).describe("Distinct accounts that failed and did not sign in, or were asked for a step-up, all within `within`"),
            within: duration.default("10s"),
          })
          .strict()
          .optional()
          .describe("Below the volume floor (minAttemptsPerMinute), fire site.campaign_early, replica-local and without waiting for the merge: this many distinct accounts failed within `within` and did not sign in, or were asked for a step-up (tried from a device and network they never used), failures were above the failure-ratio threshold of the outcomes known from the same span, and the share above holds over the last two minutes (absent: never early)"),
        slow: z
          .object({
            within: duration.default("30m").describe("The long window: counted over the current and the previous span of this length"),
            failingAccounts: z.number().int().min(2).describe("Distinct accounts that failed from clients keeping the site's session, at or above which the window can be a campaign"),
            perSignedIn: z.number().positive().default(2).describe("Failing accounts per failing account that also signed in over the same window, above which they are a campaign"),
            bareFailingAccounts: z
              .number()
              .int()
              .min(2)
              .optional()
              .describe("Distinct accounts that failed from browser sessions of which nothing reached Palisade before the login (session.bare_login), at or above which the window can be a campaign too, however few accounts failed in all (absent: failingAccounts only)"),
          })
          .strict()
          .optional()
          .describe("Below the volume floor, over a long window and shared by every replica through the store: fire site.campaign when distinct failing accounts reach failingAccounts and outnumber those of them that also signed in by perSignedIn (a small shop's slow campaign; absent: never)"),
        weight: weight.default(0),
      })
      .strict()
      .optional()
      .describe("Login endpoints: fires site.campaign while a failure-ratio anomaly comes from many accounts failing once, not people retrying their own"),
  })
  .strict();

/**
 * A list of request patterns shipped as data files (examples/policies/lists/): one JavaScript regular
 * expression per line, matched case-insensitively against one part of the request after full
 * percent-decoding. A match fires `probe.<name>`.
 */
const probeList = z
  .object({
    name,
    target: z
      .enum(["path", "query", "request", "user-agent", "headers"])
      .default("request")
      .describe("path; query; request = path and query; user-agent; headers = every header value"),
    files: z.array(z.string()).default([]).describe("Files with one regular expression per line ('#' starts a comment line)"),
    patterns: z.array(z.string()).default([]).describe("Regular expressions written in the policy itself"),
    weight: weight.default(50),
    threshold: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Fire only when one IP matched more different requests than this in the window; absent: one match fires"),
  })
  .strict();

/**
 * Per-client evidence on every request, whether or not an endpoint names its path: probes for
 * sensitive files and known exploits, scanner user agents, requests that miss (404/403/400),
 * user agents switching, random query strings, malformed protocol versions and proxy requests.
 */
const probing = z
  .object({
    window: duration.default("2m"),
    lists: z.array(probeList).default([]),
    probes: countThreshold.optional().describe("Different requests from one IP that matched a list without a threshold, in the window"),
    missingPaths: z
      .object({
        threshold: z.number().int().positive().default(10),
        weight: weight.default(40),
        statuses: statusList.default([400, 403, 404]),
      })
      .strict()
      .optional()
      .describe("Different paths one IP asked for that the site answered with one of the statuses (from the access log)"),
    errorRatio: z
      .object({ minRequests: z.number().int().positive().default(20), threshold: z.number().min(0).max(1).default(0.8), weight: weight.default(20) })
      .strict()
      .optional()
      .describe("Share of one IP's requests answered with a missingPaths status"),
    authFailures: countThreshold
      .optional()
      .describe("Responses 401 (HTTP authentication refused) to one IP on any path, from the access log: basic-auth brute force"),
    userAgents: countThreshold.optional().describe("Different user agents from one IP"),
    queryFlood: countThreshold.optional().describe("Different query strings from one IP (cache-busting floods)"),
    protocol: flagWeight
      .optional()
      .describe("An HTTP version that does not exist, a CONNECT or an absolute URL (a proxy request)"),
  })
  .strict();

/**
 * Enumeration spread over many addresses, judged from the site's answers (docs/default-endpoint.md):
 * one path shape answering a miss for many different ids, or a sign-up endpoint answering
 * "already registered" for many different accounts, far more than the shop's own traffic does.
 * The thresholds are priors: a site that sees more such answers from its own people raises them.
 */
const siteEnumeration = z
  .object({
    paths: z
      .object({
        window: duration.default("2m"),
        statuses: statusList.default([404]),
        missingIds: z
          .number()
          .int()
          .positive()
          .default(20)
          .describe("Different ids of one path shape answered with one of the statuses within the window, site-wide, above which the shape is being enumerated"),
      })
      .strict()
      .optional()
      .describe("Paths no endpoint names, by shape: id-like segments (digit runs, long hexadecimal, codes mixing letters and digits) read as one placeholder"),
    signUps: z
      .object({
        window: duration.default("10m"),
        statuses: statusList.default([409]).describe("What the registration endpoint answers for an address that already has an account"),
        existingAccounts: z
          .number()
          .int()
          .positive()
          .default(10)
          .describe("Different accounts a registration endpoint answered as already registered within the window, site-wide, above which its sign-ups are probes"),
      })
      .strict()
      .optional()
      .describe("Registration endpoints: sign-ups used to learn which addresses have an account"),
    learning: z
      .object({
        zScore: z.number().positive().default(4).describe("Standard deviations above the learned mean at which a target's own traffic is exceeded"),
        minSamples: z.number().int().positive().default(60).describe("Minutes a target's baseline must have seen before it can raise the threshold"),
        learningRate: z.number().gt(0).lte(1).default(0.05),
      })
      .strict()
      .default({ zScore: 4, minSamples: 60, learningRate: 0.05 })
      .describe("Each target's figure learned minute by minute from calm minutes; above the prior, the learned threshold replaces it"),
    weight: weight.default(0).describe("Added to requests of a surging target from clients with no session: the surge alone says little about one client"),
  })
  .strict();

/**
 * Credential-stuffing and account-takeover signals on authentication endpoints. Each block
 * is optional: absent means the signal is off. Weights add up to the risk (capped at 100).
 */
const signals = z
  .object({
    failures: windowed({
      ip: countThreshold.optional(),
      subnet: countThreshold.optional(),
      username: countThreshold.optional(),
      fingerprint: countThreshold.optional(),
    })
      .optional()
      .describe("Failed logins per entity in the window"),
    failureRatio: z
      .object({
        window: duration.default("10m"),
        minAttempts: z.number().int().positive().default(10),
        threshold: z.number().min(0).max(1).default(0.8),
        weight: weight.default(20),
      })
      .strict()
      .optional()
      .describe("Share of an IP's login attempts that failed, once it made enough of them"),
    distinctUsernames: windowed({
      ip: countThreshold.optional(),
      subnet: countThreshold.optional(),
      fingerprint: countThreshold.optional(),
    })
      .optional()
      .describe("Different usernames tried from one source (HyperLogLog)"),
    distinctIps: windowed({ username: countThreshold.optional() })
      .optional()
      .describe("Different IPs one username was tried from"),
    siteAnomaly: siteAnomaly
      .optional()
      .describe("Site-wide attempt rate and failure ratio per authentication endpoint against a learned baseline"),
    newUsername: flagWeight.optional().describe("A username never seen to log in successfully"),
    slowStuffing: z
      .object({
        window: duration.default("2h"),
        /** Different usernames this address tried within the window, the current one included. */
        minUsernames: z.number().int().min(2).default(2),
        /** Failed logins from this address within the window, before this one. */
        minFailures: z.number().int().min(1).default(1),
        weight: weight.default(40),
        fingerprint: z
          .object({
            /** Different accounts that failed (or were challenged) from sessionless clients of this header set within the window. */
            minUsernames: z.number().int().min(2).default(3),
            weight: weight.default(20),
          })
          .strict()
          .optional()
          .describe("One header set whose logins without the site's cookies tried several accounts over hours, and none got in"),
      })
      .strict()
      .optional()
      .describe("One address trying several accounts over hours and never succeeding: low-and-slow stuffing"),
    spraying: windowed({ threshold: z.number().int().positive().default(10), weight: weight.default(40) })
      .optional()
      .describe("One password tried against many usernames (held in memory as a keyed hash)"),
    enumeration: windowed({ threshold: z.number().int().positive().default(10), weight: weight.default(40) })
      .optional()
      .describe("Logins for unknown usernames from one IP"),
    tokenReplay: z
      .object({ window: duration.default("1h"), threshold: z.number().int().positive().default(5), weight: weight.default(60) })
      .strict()
      .optional()
      .describe("One session or refresh token used from more IPs than this"),
    tokenBinding: z
      .object({
        /** Cookies that travel with the token (a device cookie): missing or different on a later use is replay. */
        companionCookies: z.array(z.string().min(1).max(128)).max(8).default([]),
        newDevice: weight.default(60),
        companionChanged: weight.default(60),
        /**
         * Weight when a use carries none of the companion cookies, the first use Palisade sees
         * included (such a use binds nothing). Only for clients that send them with every use.
         */
        companionMissing: weight.optional(),
        /**
         * Back to a network the token left less than `window` ago: two networks using it at once.
         * Every use is flagged for `remember` after that (default: `window`): a token two holders
         * used is a copied one, and once a quarantine of it ends the copy would work again.
         */
        alternation: z
          .object({ window: duration.default("5m"), weight: weight.default(60), remember: duration.optional().describe("How long every use is flagged after two networks held the token at once: took turns, or handed it over within the handoff window (default and least: window)") })
          .strict()
          .default({ window: "5m", weight: 60 }),
        /** More networks within `window` than a person moves through. */
        churn: z
          .object({ window: duration.default("10m"), maxNetworks: z.number().int().min(1).default(3), weight: weight.default(60) })
          .strict()
          .default({ window: "10m", maxNetworks: 3, weight: 60 }),
        /** More uses within `window` than one client needs (an app refreshes once per access token). */
        rate: z
          .object({ window: duration.default("5m"), max: z.number().int().min(1).default(4), weight: weight.default(60) })
          .strict()
          .default({ window: "5m", max: 4, weight: 60 }),
        /**
         * The token used from another network less than `window` after its last use: an app on
         * one device refreshes once per access token, so a roaming phone's next refresh comes long
         * after it changed network, while a thief's first use lands beside the victim's.
         */
        handoff: z.object({ window: duration.default("1m"), weight: weight.default(60) }).strict().optional(),
        /** A token unused this long is forgotten, and binds afresh on its next use. */
        retention: duration.default("30d"),
      })
      .strict()
      .optional()
      .describe("A session or refresh token bound to the device, companion cookies and network of its first use"),
    breachedPassword: flagWeight.optional().describe("The password is on the mounted breached-password list"),
    accountHistory: z
      .object({
        retention: duration.default("180d"),
        maxPerAccount: z.number().int().positive().max(1000).default(20),
        newFingerprint: weight.default(10),
        newSubnet: weight.default(10),
        newCountry: weight.default(20),
        newDevice: weight
          .default(15)
          .describe("account.new_device: none of the account's device cookies on a login, once it signed in with one (needs deviceCookies)"),
        deviceCookies: z
          .array(z.string().min(1).max(128))
          .max(8)
          .default([])
          .describe(
            "Long-lived cookies that name a device (a browser's device cookie the site sets, the app's device id): the first one present is kept (hashed) with the account's history, and a later login carrying it is account.known_device",
          ),
      })
      .strict()
      .optional()
      .describe("Risk-based authentication: a login from a device, network or country the account never used"),
    automation: z
      .object({
        weight: weight.default(20),
        libraryWeight: weight.default(30).describe("HTTP libraries, headless browsers and scraping frameworks"),
        tlsBrowserFingerprints: z
          .array(z.string())
          .default([])
          .describe("JA3/JA4 values of real browsers; a browser user agent with another one is flagged"),
      })
      .strict()
      .optional()
      .describe("Clients that are scripts: library user agents, fake browsers, TLS that does not match the user agent"),
    sharedAddress: z
      .object({
        window: duration.default("10m"),
        /** Cookies that tell one browser or app from another (a session cookie, a device cookie). */
        cookies: z.array(z.string().min(1).max(128)).min(1).max(8),
        /** From this many clients on, an address is shared and its catalogue counts are per client. */
        minClients: z.number().int().min(2).default(5),
        /**
         * Logins behind a shared address: once it has shown itself to be a crowd of people
         * (this many different accounts signed in successfully from it within the window, and an
         * address failure ratio no higher than `maxFailureRatio`), a login's `velocity.ip` is
         * counted for its client (fingerprint and cookies) instead of the whole address.
         */
        logins: z
          .object({
            minSignedIn: z.number().int().min(2).default(5),
            maxFailureRatio: z.number().min(0).max(1).default(0.3),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional()
      .describe("Addresses shared by many clients (a carrier's CGNAT, an office): catalogue counts per client, not per address"),
    scraping: z
      .object({
        window: duration.default("10m"),
        distinctResources: z
          .object({ ip: countThreshold.optional(), subnet: countThreshold.optional(), fingerprint: countThreshold.optional() })
          .strict()
          .default({})
          .describe("Different resource ids fetched by one source"),
        sequentialIds: z
          .object({ threshold: z.number().int().positive().default(15), maxStep: z.number().int().positive().default(3), weight: weight.default(35) })
          .strict()
          .optional()
          .describe("Consecutive requests whose numeric ids step by at most maxStep"),
        notFoundRatio: z
          .object({ minRequests: z.number().int().positive().default(20), threshold: z.number().min(0).max(1).default(0.3), weight: weight.default(25) })
          .strict()
          .optional()
          .describe("Share of a client's catalogue requests answered 404 (probing)"),
        distinctQueries: countThreshold.optional().describe("Different search queries from one IP"),
        noAssets: z
          .object({ minRequests: z.number().int().positive().default(40), weight: weight.default(20) })
          .strict()
          .optional()
          .describe("Many API requests and not one page or asset view"),
        regularity: z
          .object({
            minRequests: z.number().int().positive().default(12),
            maxVariation: z.number().positive().default(0.15).describe("Coefficient of variation of the gaps below which it is machine-regular"),
            minGap: duration.default("250ms").describe("Mean gap below which it is faster than a person"),
            weight: weight.default(25),
          })
          .strict()
          .optional()
          .describe("Inter-request gaps too regular or too short for a person"),
        siteAnomaly: siteAnomaly
          .optional()
          .describe("Site-wide request rate and 404 ratio per catalogue endpoint; the cohort is browsers that never loaded a page"),
        velocityBaseline: z
          .object({
            zScore: z.number().positive().default(4),
            minSamples: z.number().int().positive().default(30),
            learningRate: z.number().gt(0).lte(1).default(0.05),
            priorMean: z.number().nonnegative().default(10),
            priorStddev: z.number().positive().default(15),
            weight: weight.default(20),
          })
          .strict()
          .optional()
          .describe("A client's request rate against the learned rate of its endpoint and client class"),
      })
      .strict()
      .optional()
      .describe("Scraping and enumeration on endpoints with `resource`, and on search"),
    cohorts: z
      .object({
        window: duration.default("10m"),
        /** Cookies a client that browsed the site carries (a session cookie, an app's device cookie). */
        sessionCookies: z.array(z.string().min(1).max(128)).min(1).max(8),
        /**
         * The cold-start prior: this many addresses sharing one header set on one endpoint, all
         * claiming a browser and none carrying the site's cookies, make a cohort. No baseline is
         * learned first, so a campaign that starts with Palisade is caught like any other.
         */
        minMembers: z.number().int().min(1).max(1000).default(5),
        browserWithoutSession: weight.default(40).describe("Risk for a member of a cohort of browser-claiming clients without the site's cookies"),
        /**
         * A catalogue walked in order across addresses: requests that each ask for an id at most
         * `maxStep` above the previous step of the walk, from another address, within `within`
         * of it. From a run of `minRun` such steps, each step gets `weight`.
         */
        /** Accounts one browser session (its session cookies' values) tried to sign in to, above `threshold`. */
        sessionAccounts: z.object({ threshold: z.number().int().min(1).max(MAX_SESSION_ACCOUNTS_THRESHOLD).default(1), weight: weight.default(30) }).strict().optional(),
        /**
         * Catalogue reads of one browser session (its session cookies' values) that no asset
         * followed, over `window`, above `threshold`; from `minMembers` sessions with such reads sharing
         * a header set, while `cohortShare` of its reads over the last minute are unfollowed, each unfollowed read of that
         * header set gets `cohortWeight`.
         * Needs the assets a page loads after its data (images) to go through ext_authz on a
         * `pageView` endpoint; silent until an asset following a read was seen. On login endpoints,
         * a session whose latest read within `window` an asset followed gets the weightless
         * `session.page_shown` (its value: the pages the session was shown within `window`, products an
         * asset followed and searches); with
         * `firstLoginShare`, such logins for accounts that never signed in, from sessions shown at
         * least as many pages, past that share of the last minute's logins and two or more, give
         * `site.shown_first_logins`.
         */
        sessionReads: z
          .object({
            window: duration.default("1h"),
            threshold: z.number().int().min(1).max(1000).default(1),
            weight: weight.default(40),
            cohortWeight: weight.default(40),
            cohortShare: z.number().gt(0).max(1).default(0.5).describe("Share of the header set's reads after a session's first, over the last minute, that must be unfollowed for its cohort to act"),
            firstLoginShare: z
              .number()
              .gt(0)
              .max(1)
              .optional()
              .describe("Share of the last minute's logins (this replica) that were for accounts that never signed in, from sessions shown at least as many pages as this one (in power-of-two depths), above which site.shown_first_logins says the page views are a campaign's (from two such logins in the minute: a lone one is a quiet shop's shopper)"),
            pagesSkipped: z
              .object({
                param: z.string().min(1).max(64).default("page"),
                minPage: z.number().int().min(2).max(10_000).default(3),
                weight: weight.default(40),
              })
              .strict()
              .optional()
              .describe("A browser session that asks for results page `minPage` or deeper of a search it never asked for before within `window` (session.pages_skipped, on that search and the session's later catalogue reads): a person reaches a deep page from the pages before it; a scraper spreading a listing's pages over its sessions does not"),
          })
          .strict()
          .optional()
          .describe("Browser sessions reading catalogue resources without ever loading the assets that follow a page; on logins, the weightless session.page_shown for a session whose latest read an asset followed"),
        catalogueWalk: z
          .object({
            maxStep: z.number().int().min(1).max(100).default(3),
            within: duration.default("10s"),
            minRun: z.number().int().min(2).max(1000).default(5),
            weight: weight.default(40),
          })
          .strict()
          .optional(),
        /**
         * A catalogue read each id once across many browser sessions: over `window`, the repeats
         * among the browser sessions' product reads (a read of an id read before within it) at
         * most `maxRepeatShare` of the repeats readers picking uniformly over `catalogueSize` ids
         * (or the ids read, when more) would make, once that many is `minExpectedRepeats` or more,
         * give the weightless site.catalogue_spread; meanwhile a session's reads, mostly of ids
         * nobody read within the window, with no search or sign-in, give session.first_reads.
         */
        catalogueSpread: z
          .object({
            window: duration.default("30m"),
            catalogueSize: z.number().int().min(1).max(100_000_000).default(10_000).describe("Prior for the ids a product endpoint serves: at or above the real catalogue (a smaller one expects more repeats than people make)"),
            minExpectedRepeats: z.number().int().min(1).max(1_000_000).default(20).describe("Repeats the uniform bound must expect before the figure is said"),
            maxRepeatShare: z.number().gt(0).max(1).default(0.5).describe("Repeats observed, as a share of the uniform bound's, at or below which the site's reads are a walk"),
            session: z
              .object({
                minReads: z.number().int().min(1).max(1000).default(3),
                firstShare: z.number().gt(0).max(1).default(0.8),
                weight: weight.default(0),
              })
              .strict()
              .default({ minReads: 3, firstShare: 0.8, weight: 0 }),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional()
      .describe("Cohorts formed from what their members share, whether or not a site-wide anomaly is under way"),
    sequence: z
      .object({ window: duration.default("30m"), weight: weight.default(15) })
      .strict()
      .optional()
      .describe("A browser login with no page view from the same client before it"),
    probing: probing.optional().describe("Probes, scanners and floods on every request, named endpoint or not"),
    siteEnumeration: siteEnumeration
      .optional()
      .describe("Ids or accounts enumerated through many addresses, from the site's misses on one path shape or sign-up endpoint (access log)"),
    geo: z
      .object({
        countryHeader: z
          .string()
          .toLowerCase()
          .default("x-geo-country")
          .describe("Header carrying the client's country (set by a CDN or the edge proxy); it wins over the GeoIP database"),
        hosting: z
          .object({ weight: weight.default(0) })
          .strict()
          .optional()
          .describe("Fires network.hosting for addresses in a hosting or data-centre ASN (GeoIP ASN database and hosting ASN list)"),
        impossibleTravel: z
          .object({
            maxSpeedKmh: z.number().positive().default(900).describe("Faster than this between two successful logins is impossible (an airliner: about 900)"),
            minDistanceKm: z
              .number()
              .nonnegative()
              .default(300)
              .describe("Shorter jumps are ignored: GeoIP places an address only roughly"),
            retention: duration.default("30d").describe("The account's last login place is forgotten this long after it"),
            weight: weight.default(20),
            action: z
              .enum([...ACTIONS, "none"])
              .default("step_up")
              .describe("What Palisade does on its own when it fires (heavier rules still win); none leaves it to the rules"),
          })
          .strict()
          .optional()
          .describe("Successive successful logins of one account farther apart than a plane could fly in the time between them"),
      })
      .strict()
      .optional()
      .describe("Where clients are: the country header and the GeoIP/ASN databases the service is given"),
  })
  .strict()
  .refine((s) => !s.sharedAddress?.logins || s.failureRatio !== undefined, {
    message: "sharedAddress.logins needs failureRatio: a shared address proves a crowd only by a failure ratio it keeps low",
    path: ["sharedAddress", "logins"],
  });

const allowedBot = z
  .object({
    name,
    category: z.string().min(1).describe("Named in the decision, e.g. search-engine, partner, monitoring"),
    userAgent: z.string().min(1).describe("Regular expression the user agent must match"),
    cidrs: z.array(z.string()).default([]).describe("Addresses the bot really comes from"),
    feeds: z
      .array(feed)
      .default([])
      .describe("Range files the bot's operator publishes (Google's and Bing's JSON, format json), loaded and refreshed"),
  })
  .strict()
  .refine((bot) => bot.cidrs.length + bot.feeds.length > 0, { message: "an allowed bot needs cidrs or feeds to verify its address", path: ["cidrs"] });

const bots = z
  .object({
    allowed: z.array(allowedBot).default([]),
    impersonationWeight: weight.default(60).describe("A user agent of an allowed bot from elsewhere"),
  })
  .strict();

const rule = z
  .object({
    id: name,
    description: z.string().optional(),
    endpoints: z.array(name).optional().describe("Only for these endpoints; all when absent"),
    when: z.string().min(1).describe("CEL condition over request, signal, reasons and risk"),
    action: z.enum(ACTIONS),
    scope: z.enum(SCOPES).default("ip"),
    shadow: z.boolean().default(false).describe("Compute and record, but let the request pass"),
    retryAfter: duration.optional().describe("Retry-After for throttle and quarantine"),
    limit: adaptiveLimitSpec(duration).optional(),
  })
  .strict();

export const policySchema = z
  .object({
    apiVersion: z.literal("palisade.dev/v1alpha1"),
    kind: z.literal("Policy"),
    metadata: z
      .object({
        name,
        version: z.string().min(1).max(64).optional().describe("Shown in every decision; a content hash when absent"),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    spec: z
      .object({
        mode: z.enum(["enforce", "shadow"]).default("enforce"),
        failMode: failMode.default("open"),
        client: z
          .object({
            ipSource: z.enum(["x-forwarded-for", "x-envoy-external-address", "peer"]).default("x-forwarded-for"),
            trustedHops: z
              .number()
              .int()
              .min(0)
              .max(10)
              .default(0)
              .describe("X-Forwarded-For entries appended by trusted proxies, counted from the right"),
            subnetPrefixV4: z.number().int().min(8).max(32).default(24),
            subnetPrefixV6: z.number().int().min(16).max(128).default(48),
          })
          .strict()
          .default({ ipSource: "x-forwarded-for", trustedHops: 0, subnetPrefixV4: 24, subnetPrefixV6: 48 }),
        limits: z
          .object({
            maxHeaders: z.number().int().positive().max(HEADER_CEILING.entries).default(200),
            maxHeaderBytes: z.number().int().positive().max(HEADER_CEILING.bytes).default(64 * 1024),
            maxBodyBytes: z.number().int().positive().default(64 * 1024),
          })
          .strict()
          .default({ maxHeaders: 200, maxHeaderBytes: 64 * 1024, maxBodyBytes: 64 * 1024 }),
        fingerprint: z
          .object({
            headers: z.array(z.string().toLowerCase()).default(["user-agent", "accept", "accept-language"]),
            tlsHeader: z.string().toLowerCase().optional().describe("Header carrying a JA3/JA4 fingerprint"),
          })
          .strict()
          .default({ headers: ["user-agent", "accept", "accept-language"] }),
        challenge: challengeSpec(duration),
        endpoints: z.array(endpoint).default([]),
        defaultEndpoint: z
          .object({
            name: name.default("default"),
            sensitivity: z.enum(["low", "medium", "high", "critical"]).default("low"),
            failMode: failMode.optional(),
            velocity: z.object({ ip: threshold.optional(), subnet: threshold.optional() }).strict().default({}),
            writes: z
              .object({
                burst: threshold.optional().describe("Writes of one client to one path shape in a few minutes"),
                hourly: threshold.optional().describe("Writes of one client to one path shape in an hour"),
                address: threshold
                  .optional()
                  .describe("Writes of one address to one path shape whatever its cookies: above what the people behind a carrier's NAT pay"),
              })
              .strict()
              .optional()
              .describe(
                "Writes (POST, PUT, PATCH, DELETE) per client (address and cookies, or address and fingerprint) per path shape (ids as {id}): payments, codes, resets a person makes once or twice",
              ),
          })
          .strict()
          .prefault({})
          .describe("The endpoint class of every request no endpoint matches: rules name it like any endpoint"),
        signals: signals.default({}),
        bots: bots.default({ allowed: [], impersonationWeight: 60 }),
        reputation: z.object({ lists: z.array(cidrList).default([]) }).strict().default({ lists: [] }),
        rules: z.array(rule).default([]),
        response: responseSpec(duration).prefault({}),
      })
      .strict(),
  })
  .strict();

export type PolicyDocument = z.infer<typeof policySchema>;
export type EndpointSpec = PolicyDocument["spec"]["endpoints"][number];
export type FieldSource = z.infer<typeof fieldSource>;
export type FailMode = z.infer<typeof failMode>;
export type SignalsSpec = PolicyDocument["spec"]["signals"];
export type OutcomeSpec = z.infer<typeof outcome>;

/** What an authentication endpoint without an `outcome` block uses. */
export const defaultOutcome = (): OutcomeSpec => outcome.parse({});
