import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledEndpoint } from "../policy/compile.js";
import type { CompiledSignals } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import type { Store } from "../state/store.js";
import { SessionReads } from "./session-reads.js";
import type { Signal } from "./signal.js";

/**
 * The session reading detector on the in-memory store: which catalogue reads of a browser
 * session no asset followed, when the session and its header set's cohort are flagged, and
 * when it says nothing.
 */

const product = { name: "product", authentication: false, pageView: false, resourceSegment: 4 } as CompiledEndpoint;
const search = { name: "search", authentication: false, pageView: false } as CompiledEndpoint;
const asset = { name: "static", authentication: false, pageView: true } as CompiledEndpoint;
const login = { name: "login", authentication: true, pageView: false } as CompiledEndpoint;
const cohorts = { windowMs: 10 * 60_000, sessionCookies: ["sid"], minMembers: 3, browserWithoutSession: 40 };
const signals: CompiledSignals = { cohorts: { ...cohorts, sessionReads: { windowMs: 60 * 60_000, threshold: 1, weight: 40, cohortWeight: 40, cohortShare: 0.5 } } };
/** Event times count from here (a time of 0 stands for "never" in the store's values). */
const T0 = Date.UTC(2026, 2, 2, 9);
const BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

interface Step {
  sid?: string;
  /** "p<id>": product read, "a": asset, "s": search, "l": login. */
  what: string;
  atMs: number;
  agent?: string;
  shape?: string;
  /** A search's query string ("q=x" unless told). */
  query?: string;
}

async function run(steps: Step[], settings = signals, store: Store = new MemoryStore()): Promise<Signal[][]> {
  const reads = new SessionReads();
  const out: Signal[][] = [];
  for (const { sid, what, atMs, agent = BROWSER, shape = "browser", query = "q=x" } of steps) {
    const endpoint = what === "a" ? asset : what === "s" ? search : what === "l" ? login : product;
    const path = what === "a" ? "/static/img/1.webp" : what === "s" ? "/api/v1/search" : what === "l" ? "/api/v1/login" : `/api/v1/products/${what.slice(1)}`;
    const headers = new Map([["user-agent", agent], ...(sid ? [["cookie", `theme=dark; sid=${sid}`] as [string, string]] : [])]);
    const request: NormalisedRequest = { method: what === "l" ? "POST" : "GET", path, query: what === "s" ? query : "", host: "", headers, headerShape: shape, timeMs: T0 + atMs, anomalies: [], ipId: "ip" };
    const { plan, finish } = reads.plan(request, endpoint, settings);
    const results = await Promise.all(plan.ops.map(({ entity, op }) => store.apply(entity, [op], T0 + atMs).then(([r]) => r ?? 0)));
    const evaluated = plan.evaluate(results);
    out.push([...evaluated, ...finish()]);
  }
  return out;
}

const codes = (found: Signal[]) => found.filter((s) => s.fired).map((s) => `${s.code}=${s.value}`);
/** A shopper somewhere on the site, so assets after reads are known to reach Palisade. */
const shopper: Step[] = [{ sid: "shopper", what: "p1", atMs: 0 }, { sid: "shopper", what: "a", atMs: 100 }];

describe("session.reads_without_assets", () => {
  it("counts a session's reads that no asset followed, over the long window, and flags it above the threshold", async () => {
    const steps: Step[] = [...shopper, ...[2, 3, 4, 5].map((id, i) => ({ sid: "bot", what: `p${id}`, atMs: 1_000 + i * 10 * 60_000 }))];
    const found = await run(steps);
    expect(found.slice(2).map((s) => s.find((x) => x.code === "session.reads_without_assets")?.value)).toEqual([undefined, 1, 2, 3]);
    expect(found.slice(2).map(codes)).toEqual([[], [], ["session.reads_without_assets=2"], ["session.reads_without_assets=3"]]);
  });

  it("leaves a shopper alone: every product is followed by its picture, and searches are no reads", async () => {
    const steps: Step[] = [...shopper];
    for (let i = 0; i < 30; i++) {
      steps.push({ sid: "p", what: `p${i + 10}`, atMs: 1_000 + i * 20_000 }, { sid: "p", what: "a", atMs: 1_050 + i * 20_000 }, { sid: "p", what: "s", atMs: 1_100 + i * 20_000 });
    }
    expect((await run(steps)).flat().filter((s) => s.code.endsWith("reads_without_assets"))).toEqual([]);
  });

  it("counts a search after a product no asset followed, never a search itself as the read a product must follow", async () => {
    // The bot reads a product, searches, searches again, reads another, searches: each bare
    // product is counted once, by the first search after it, however many requests follow it;
    // the requests in between carry the count as it stands.
    const bot: Step[] = [
      { sid: "bot", what: "p2", atMs: 1_000 }, { sid: "bot", what: "s", atMs: 60_000 }, { sid: "bot", what: "s", atMs: 120_000 },
      { sid: "bot", what: "p3", atMs: 180_000 }, { sid: "bot", what: "s", atMs: 240_000 },
    ];
    const found = await run([...shopper, ...bot]);
    expect(found.slice(2).map((s) => s.find((x) => x.code === "session.reads_without_assets")?.value)).toEqual([undefined, 1, 1, 1, 2]);
    // A shopper whose last product's picture never came (it left, or its browser held it), back
    // sixteen minutes later to search twice and open a result: one unfollowed read, not three.
    const back: Step[] = [
      { sid: "back", what: "p4", atMs: 1_000 }, { sid: "back", what: "s", atMs: 961_000 }, { sid: "back", what: "s", atMs: 967_000 },
      { sid: "back", what: "p5", atMs: 973_000 }, { sid: "back", what: "a", atMs: 973_080 },
    ];
    const returned = await run([...shopper, ...back]);
    expect(returned.slice(2).map((s) => s.find((x) => x.code === "session.reads_without_assets")?.value)).toEqual([undefined, 1, 1, 1, undefined]);
    // A shopper who searches first, opens a result (its picture follows), then searches again: nothing.
    const person: Step[] = [{ sid: "p", what: "s", atMs: 1_000 }, { sid: "p", what: "p9", atMs: 5_000 }, { sid: "p", what: "a", atMs: 5_050 }, { sid: "p", what: "s", atMs: 30_000 }, { sid: "p", what: "p10", atMs: 40_000 }, { sid: "p", what: "a", atMs: 40_050 }];
    expect((await run([...shopper, ...person])).flat().filter((x) => x.code.endsWith("reads_without_assets"))).toEqual([]);
  });

  it("says nothing until an asset was seen following a read (assets that never reach Palisade are unknown, not absent)", async () => {
    const found = await run([1, 2, 3, 4].map((id) => ({ sid: "bot", what: `p${id}`, atMs: id * 1_000 })));
    expect(found.flat()).toEqual([]);
  });

  it("says nothing for a client that claims no browser, carries no session cookie, or without the setting", async () => {
    const app = await run([...shopper, ...[2, 3, 4].map((id) => ({ sid: "app", what: `p${id}`, atMs: id * 1_000, agent: "Storefront/5.2.1" }))]);
    const cookieless = await run([...shopper, ...[2, 3, 4].map((id) => ({ what: `p${id}`, atMs: id * 1_000 }))]);
    const off = await run([...shopper, ...[2, 3, 4].map((id) => ({ sid: "bot", what: `p${id}`, atMs: id * 1_000 }))], { cohorts });
    expect([...app, ...cookieless, ...off].flat()).toEqual([]);
  });

  it("does not count a prefetch as a read: the browser fetched the data ahead of need, nobody looks at it yet", () => {
    const reads = new SessionReads();
    const opsWith = (extra: [string, string][]) => {
      const headers = new Map<string, string>([["user-agent", BROWSER], ["cookie", "sid=list"], ...extra]);
      const request: NormalisedRequest = { method: "GET", path: "/api/v1/products/7", query: "", host: "", headers, headerShape: "browser", timeMs: T0, anomalies: [], ipId: "ip" };
      return reads.plan(request, product, signals).plan.ops.length;
    };
    expect(opsWith([])).toBe(4);
    expect([["sec-purpose", "prefetch;prerender"], ["sec-purpose", "prefetch"], ["purpose", "prefetch"], ["next-router-prefetch", "1"]].map((h) => opsWith([h as [string, string]]))).toEqual([0, 0, 0, 0]);
  });

  it("forms a cohort of sessions sharing a header set and flags their first unfollowed read while most of its later reads are", async () => {
    const steps: Step[] = [...shopper];
    for (let bot = 0; bot < 5; bot++) {
      steps.push({ sid: `bot${bot}`, what: `p${100 + bot}`, atMs: 1_000 + bot }, { sid: `bot${bot}`, what: `p${200 + bot}`, atMs: 30_000 + bot });
    }
    const found = await run(steps);
    const second = found.slice(2).filter((_, i) => i % 2 === 1).map(codes);
    expect(second).toEqual([[], [], ["cohort.reads_without_assets=3"], ["cohort.reads_without_assets=4"], ["cohort.reads_without_assets=5"]]);
  });

  it("gives a member's read after a search the cohort's weight while its bare product is within the cohort window, not a shopper's back after a long pause", async () => {
    // Five bots read a product, search (which counts it) and read another: no product to judge
    // that one by, but each bot's bare product is a minute old and the cohort is on.
    const steps: Step[] = [...shopper];
    for (let bot = 0; bot < 5; bot++) {
      steps.push({ sid: `bot${bot}`, what: `p${100 + bot}`, atMs: 1_000 + bot }, { sid: `bot${bot}`, what: "s", atMs: 30_000 + bot }, { sid: `bot${bot}`, what: `p${200 + bot}`, atMs: 60_000 + bot });
    }
    // A shopper whose product's picture never came, back eleven minutes later while the cohort
    // is on: its search counts that product, its next product (whose picture follows) carries the
    // count but not the cohort, the bare product being older than the cohort window.
    steps.push({ sid: "back", what: "p7", atMs: 2_000 }, { sid: "back", what: "s", atMs: 662_000 }, { sid: "back", what: "p8", atMs: 663_000 }, { sid: "back", what: "a", atMs: 663_050 });
    for (let bot = 5; bot < 10; bot++) steps.push({ sid: `bot${bot}`, what: `p${100 + bot}`, atMs: 600_000 + bot }, { sid: `bot${bot}`, what: `p${200 + bot}`, atMs: 630_000 + bot });
    const found = await run(steps);
    const third = found.slice(2, 17).filter((_, i) => i % 3 === 2);
    expect(third.map(codes)).toEqual([[], [], ["cohort.reads_without_assets=3"], ["cohort.reads_without_assets=4"], ["cohort.reads_without_assets=5"]]);
    expect(third.map((s) => s.find((x) => x.code === "session.reads_without_assets")?.value)).toEqual([1, 1, 1, 1, 1]);
    const back = found.slice(17, 21);
    expect(back.map((s) => s.find((x) => x.code === "session.reads_without_assets")?.value)).toEqual([undefined, 1, 1, undefined]);
    expect(back[2]!.some((x) => x.code === "cohort.reads_without_assets")).toBe(false);
  });

  it("lets sessions whose first product no asset followed join the cohort, so the first of their second reads meets it", async () => {
    // Five bots read one product each and leave; shoppers go on reading (each read checks one
    // first read due); a minute later each bot comes back for one more.
    const steps: Step[] = [...shopper];
    for (let bot = 0; bot < 5; bot++) steps.push({ sid: `bot${bot}`, what: `p${100 + bot}`, atMs: 1_000 + bot * 100 });
    for (let i = 0; i < 8; i++) steps.push({ sid: `shopper${i}`, what: `p${i + 1}`, atMs: 20_000 + i * 1_000 }, { sid: `shopper${i}`, what: "a", atMs: 20_050 + i * 1_000 });
    for (let bot = 0; bot < 5; bot++) steps.push({ sid: `bot${bot}`, what: `p${200 + bot}`, atMs: 60_000 + bot });
    const found = await run(steps);
    // Five members, not thirteen: the shoppers' first products were followed by their pictures.
    expect(found.slice(-5).map(codes)).toEqual(Array.from({ length: 5 }, () => ["cohort.reads_without_assets=5"]));
  });

  it("keeps the cohort quiet while most of the header set's later reads were followed by assets", async () => {
    const steps: Step[] = [...shopper];
    for (let i = 0; i < 12; i++) steps.push({ sid: "shopper", what: `p${300 + i}`, atMs: 500 + i * 10 }, { sid: "shopper", what: "a", atMs: 505 + i * 10 });
    for (let bot = 0; bot < 4; bot++) steps.push({ sid: `bot${bot}`, what: `p${100 + bot}`, atMs: 1_000 + bot }, { sid: `bot${bot}`, what: `p${200 + bot}`, atMs: 30_000 + bot });
    const found = await run(steps);
    expect(found.flatMap(codes)).toEqual([]);
    expect(found.at(-1)?.find((s) => s.code === "cohort.reads_without_assets")?.detail).toMatch(/4 browser sessions .* 40% of the header set's judged reads/);
  });

  it("counts a read no asset followed in its own batch: nothing more is asked of the store", async () => {
    const store = new MemoryStore();
    let calls = 0;
    const counting: Store = { ...store, kind: "counting", apply: (entity, ops, nowMs) => (calls++, store.apply(entity, ops, nowMs)), observeBaseline: store.observeBaseline.bind(store), ping: store.ping.bind(store), close: store.close.bind(store) };
    const found = await run([...shopper, ...[2, 3, 4].map((id) => ({ sid: "bot", what: `p${id}`, atMs: id * 1_000 }))], signals, counting);
    expect(found.slice(2).map((s) => s.find((x) => x.code === "session.reads_without_assets")?.value)).toEqual([undefined, 1, 2]);
    // run() applies a plan's ops one by one: four per product read, two per asset, none after.
    expect(calls).toBe(4 + 2 + 3 * 4);
  });
});

describe("session.page_shown", () => {
  const shown = (found: Signal[][]) => found.map((s) => s.some((x) => x.code === "session.page_shown" && x.fired && x.weight === 0));

  it("marks a login from a session whose latest read an asset followed: a product page shown before the form", async () => {
    const found = await run([{ sid: "p", what: "s", atMs: 0 }, { sid: "p", what: "p7", atMs: 2_000 }, { sid: "p", what: "a", atMs: 2_050 }, { sid: "p", what: "l", atMs: 9_000 }]);
    expect(shown(found)).toEqual([false, false, false, true]);
  });

  it("says nothing for a session that only loaded the shell, only searched, read without an asset after, or read too long ago", async () => {
    const shell = await run([{ sid: "bot", what: "a", atMs: 0 }, { sid: "bot", what: "a", atMs: 20 }, { sid: "bot", what: "l", atMs: 900 }]);
    const searched = await run([{ sid: "s", what: "s", atMs: 0 }, { sid: "s", what: "l", atMs: 5_000 }]);
    const bare = await run([{ sid: "b", what: "a", atMs: 0 }, { sid: "b", what: "p3", atMs: 1_000 }, { sid: "b", what: "l", atMs: 2_000 }]);
    const stale = await run([{ sid: "o", what: "p3", atMs: 0 }, { sid: "o", what: "a", atMs: 50 }, { sid: "o", what: "l", atMs: 61 * 60_000 }]);
    expect([...shell, ...searched, ...bare, ...stale].flat().filter((s) => s.code === "session.page_shown")).toEqual([]);
  });

  it("says how many pages the session was shown within the window: reads an asset followed, not bare ones", async () => {
    const steps: Step[] = [...shopper];
    for (let i = 0; i < 3; i++) steps.push({ sid: "p", what: `p${i + 10}`, atMs: 1_000 + i * 5_000 }, { sid: "p", what: "a", atMs: 1_050 + i * 5_000 });
    steps.push({ sid: "p", what: "l", atMs: 20_000 });
    // Two bare reads, then one product shown: one page, however many reads.
    steps.push({ sid: "b", what: "p20", atMs: 21_000 }, { sid: "b", what: "p21", atMs: 21_500 }, { sid: "b", what: "p22", atMs: 22_000 }, { sid: "b", what: "a", atMs: 22_050 }, { sid: "b", what: "l", atMs: 23_000 });
    const found = await run(steps);
    const logins = found.filter((_, i) => steps[i]!.what === "l").map((s) => s.find((x) => x.code === "session.page_shown")?.value);
    expect(logins).toEqual([3, 1]);
  });

  it("counts a search among the pages shown, and a product no asset followed not: a shopper who searched and opened a result was shown two", async () => {
    const steps: Step[] = [
      ...shopper,
      { sid: "q", what: "s", atMs: 1_000 }, { sid: "q", what: "p5", atMs: 3_000 }, { sid: "q", what: "a", atMs: 3_050 }, { sid: "q", what: "l", atMs: 8_000 },
      // A bare product, a search (which counts the bare one), a product shown: two pages, not three.
      { sid: "b", what: "p6", atMs: 10_000 }, { sid: "b", what: "s", atMs: 11_000 }, { sid: "b", what: "p7", atMs: 12_000 }, { sid: "b", what: "a", atMs: 12_050 }, { sid: "b", what: "l", atMs: 13_000 },
    ];
    const found = await run(steps);
    expect(found.filter((_, i) => steps[i]!.what === "l").map((s) => s.find((x) => x.code === "session.page_shown")?.value)).toEqual([2, 2]);
  });

  it("belongs to the session, not the address or the header set: another session's page counts for nothing", async () => {
    const found = await run([{ sid: "shopper", what: "p1", atMs: 0 }, { sid: "shopper", what: "a", atMs: 50 }, { sid: "bot", what: "l", atMs: 1_000 }, { what: "l", atMs: 1_100 }]);
    expect(shown(found)).toEqual([false, false, false, false]);
  });

  it("says nothing without the setting or for a client that claims no browser", async () => {
    const steps: Step[] = [{ sid: "p", what: "p7", atMs: 0 }, { sid: "p", what: "a", atMs: 50 }, { sid: "p", what: "l", atMs: 1_000 }];
    const off = await run(steps, { cohorts });
    const app = await run(steps.map((step) => ({ ...step, agent: "Storefront/5.2.1" })));
    expect([...off, ...app].flat()).toEqual([]);
  });
});

describe("session.bare_login", () => {
  const bare = (found: Signal[][]) => found.map((s) => s.some((x) => x.code === "session.bare_login" && x.fired && x.weight === 0));

  it("marks a login from a session nothing of which came before it, where assets are known to reach Palisade: a checker that loaded the form for its cookie", async () => {
    const found = await run([...shopper, { sid: "checker", what: "l", atMs: 5_000 }, { sid: "checker", what: "l", atMs: 9_000 }]);
    expect(bare(found)).toEqual([false, false, true, true]);
  });

  it("says nothing for a session that read, loaded an asset or was shown a page before its login, within the window", async () => {
    const found = await run([
      ...shopper,
      { sid: "shell", what: "a", atMs: 1_000 }, { sid: "shell", what: "l", atMs: 2_000 },
      { sid: "reader", what: "p3", atMs: 3_000 }, { sid: "reader", what: "l", atMs: 4_000 },
      { sid: "shown", what: "p4", atMs: 5_000 }, { sid: "shown", what: "a", atMs: 5_050 }, { sid: "shown", what: "l", atMs: 6_000 },
      // An hour and more after its last asset, a session has nothing within the window again (while shoppers' assets still arrive).
      { sid: "later", what: "p9", atMs: 61 * 60_000 }, { sid: "later", what: "a", atMs: 61 * 60_000 + 50 },
      { sid: "shell", what: "l", atMs: 62 * 60_000 },
    ]);
    expect(bare(found)).toEqual([false, false, false, false, false, false, false, false, false, false, false, true]);
  });

  it("says nothing where no asset was seen to follow a read (a CDN serves them: unknown is not bare), without the session cookie, or for a client that claims no browser", async () => {
    const cdn = await run([{ sid: "p", what: "p1", atMs: 0 }, { sid: "checker", what: "l", atMs: 5_000 }]);
    const cookieless = await run([...shopper, { what: "l", atMs: 5_000 }]);
    const app = await run([...shopper, { sid: "checker", what: "l", atMs: 5_000, agent: "Storefront/5.2.1" }]);
    expect([...cdn, ...cookieless, ...app].flat().filter((s) => s.code === "session.bare_login")).toEqual([]);
  });
});

describe("site.shown_first_logins", () => {
  const withShare = (share: number): CompiledSignals => ({ cohorts: { ...cohorts, sessionReads: { ...signals.cohorts!.sessionReads!, firstLoginShare: share } } });
  const request = (atMs: number) => ({ method: "POST", path: "/api/v1/login", query: "", host: "", headers: new Map(), headerShape: "browser", timeMs: T0 + atMs, anomalies: [], ipId: "ip" }) as NormalisedRequest;
  const fired = (code: string): Signal => ({ code, value: 1, weight: 0, fired: true });
  const first = [fired("session.page_shown"), fired("username.never_succeeded")];
  const returning = [fired("session.page_shown")];

  it("says, on a first login from a session shown a page, what share of the last minute's logins such logins were", () => {
    const reads = new SessionReads();
    // Nine logins of returning accounts, then first logins after pages: 1 of 10, 2 of 11, 3 of 12.
    for (let i = 0; i < 9; i++) expect(reads.firstLogin(request(i * 1_000), returning, withShare(0.15))).toEqual([]);
    const found = [10_000, 11_000, 12_000].map((at) => reads.firstLogin(request(at), first, withShare(0.15))[0]);
    expect(found.map((s) => [s?.code, s?.value, s?.fired, s?.weight])).toEqual([
      ["site.shown_first_logins", 0.1, false, 0],
      ["site.shown_first_logins", 0.182, true, 0],
      ["site.shown_first_logins", 0.25, true, 0],
    ]);
  });

  it("judges a first login by the first logins from sessions shown at least as many pages: a campaign showing one page each does not take the exemption from a shopper who read several", () => {
    const reads = new SessionReads();
    const after = (pages: number) => [{ ...fired("session.page_shown"), value: pages }, fired("username.never_succeeded")];
    // Ten logins of returning accounts, then a campaign: nine first logins, each after one page.
    for (let i = 0; i < 10; i++) reads.firstLogin(request(i * 100), returning, withShare(0.2));
    const campaign = Array.from({ length: 9 }, (_, i) => reads.firstLogin(request(2_000 + i * 100), after(1), withShare(0.2))[0]);
    expect(campaign.at(-1)).toMatchObject({ value: 0.474, fired: true });
    // A shopper who read five products: one of twenty logins came after four pages or more.
    const shopper = reads.firstLogin(request(3_000), after(5), withShare(0.2))[0];
    expect(shopper).toMatchObject({ value: 0.05, fired: false });
    expect(shopper?.detail).toMatch(/4 pages or more/);
    // Another campaign login after one page counts the shopper's too: every depth from one up.
    expect(reads.firstLogin(request(3_100), after(1), withShare(0.2))[0]).toMatchObject({ value: 0.524, fired: true });
    // Campaigns that show many pages are counted at their depth and below: the deepest bucket holds 16 and more.
    for (let i = 0; i < 5; i++) reads.firstLogin(request(3_200 + i), after(40), withShare(0.2));
    expect(reads.firstLogin(request(3_300), after(17), withShare(0.2))[0]).toMatchObject({ value: 0.222, fired: true });
  });

  it("leaves a quiet shop's lone first sign-in after pages unsaid: one login in the minute is all of them, not a campaign's", () => {
    const reads = new SessionReads();
    for (let i = 0; i < 3; i++) reads.firstLogin(request(i * 1_000), [fired("username.never_succeeded")], withShare(0.05));
    expect(reads.firstLogin(request(5_000), first, withShare(0.05))[0]).toMatchObject({ value: 0.25, fired: false });
    expect(reads.firstLogin(request(6_000), first, withShare(0.05))[0]).toMatchObject({ value: 0.4, fired: true });
  });

  it("forgets a burst after two minutes", () => {
    const reads = new SessionReads();
    for (let i = 0; i < 5; i++) reads.firstLogin(request(i), first, withShare(0.5));
    for (let i = 0; i < 9; i++) reads.firstLogin(request(150_000 + i), returning, withShare(0.5));
    expect(reads.firstLogin(request(151_000), first, withShare(0.5))[0]).toMatchObject({ value: 0.1, fired: false });
  });

  it("says nothing on other logins, nor without the setting", () => {
    const reads = new SessionReads();
    expect(reads.firstLogin(request(0), [fired("username.never_succeeded")], withShare(0.1))).toEqual([]);
    expect(reads.firstLogin(request(1), returning, withShare(0.1))).toEqual([]);
    expect(reads.firstLogin(request(2), first, signals)).toEqual([]);
  });
});

describe("session.pages_skipped", () => {
  const paging: CompiledSignals = { cohorts: { ...cohorts, sessionReads: { ...signals.cohorts!.sessionReads!, pagesSkipped: { param: "page", minPage: 3, weight: 40 } } } };
  const skipped = (found: Signal[]) => found.find((s) => s.code === "session.pages_skipped")?.value;

  it("flags a session's deep results page of a search it never made, and its catalogue reads for the cohort window after", async () => {
    const bot: Step[] = [
      { sid: "bot", what: "s", query: "q=tent&page=20", atMs: 1_000 },
      { sid: "bot", what: "p7", atMs: 150_000 },
      { sid: "bot", what: "s", query: "q=tent&page=1", atMs: 200_000 },
      { sid: "bot", what: "p8", atMs: 1_000 + 10 * 60_000 + 1 },
    ];
    expect((await run(bot, paging)).map(skipped)).toEqual([20, 20, 20, undefined]);
  });

  it("leaves a person who pages on, jumps ahead from a page of the search, or comes back to it", async () => {
    const person: Step[] = [
      { sid: "p", what: "s", query: "q=rain+jacket", atMs: 1_000 },
      { sid: "p", what: "s", query: "page=2&q=rain+jacket", atMs: 5_000 },
      { sid: "p", what: "s", query: "q=rain+jacket&page=7", atMs: 9_000 },
      { sid: "p", what: "p3", atMs: 12_000 },
      { sid: "p", what: "s", query: "q=rain+jacket&page=7", atMs: 50 * 60_000 },
      // Page 2 of a new search is one click from its first page, which a shared link may skip.
      { sid: "p", what: "s", query: "q=tent&page=2", atMs: 51 * 60_000 },
    ];
    expect((await run(person, paging)).map(skipped)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it("keeps sessions apart, and says nothing without the setting, a session cookie or a browser", async () => {
    const deep: Step = { sid: "bot", what: "s", query: "q=tent&page=9", atMs: 1_000 };
    expect((await run([{ sid: "other", what: "s", query: "q=tent", atMs: 0 }, deep], paging)).map(skipped)).toEqual([undefined, 9]);
    expect((await run([deep], signals)).map(skipped)).toEqual([undefined]);
    expect((await run([{ ...deep, sid: undefined }], paging)).map(skipped)).toEqual([undefined]);
    expect((await run([{ ...deep, agent: "Storefront/5.2.1 (iPhone; iOS 17.6; Scale/3.00)" }], paging)).map(skipped)).toEqual([undefined]);
  });

  it("takes a page that is not a whole number as the first", async () => {
    const odd: Step[] = [{ sid: "bot", what: "s", query: "q=tent&page=9x", atMs: 0 }, { sid: "bot", what: "s", query: "q=tent&page=1e3", atMs: 10 }];
    expect((await run(odd, paging)).map(skipped)).toEqual([undefined, undefined]);
  });
});
