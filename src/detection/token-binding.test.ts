import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledTokenBinding } from "../policy/signals.js";
import { MemoryStore } from "../state/memory-store.js";
import { StoreUnavailableError, type Store } from "../state/store.js";
import { bindingMemoryStore, TokenBindings } from "./token-binding.js";

const MINUTE = 60_000;
const config: CompiledTokenBinding = {
  companionCookies: ["did"],
  newDevice: 60,
  companionChanged: 60,
  alternation: { windowMs: 10 * MINUTE, weight: 60, rememberMs: 10 * MINUTE },
  churn: { windowMs: 10 * MINUTE, maxNetworks: 3, weight: 60 },
  rate: { windowMs: 5 * MINUTE, max: 4, weight: 60 },
  retentionMs: 30 * 24 * 60 * MINUTE,
};

interface Use {
  atMinute: number;
  network?: string;
  device?: string;
  cookie?: string;
}

/** `memory` as a shared store: any store but the memory store is shared, so this one stands for Redis. */
function sharedOver(memory: MemoryStore): Store {
  return {
    kind: "shared",
    apply: (...args) => memory.apply(...args),
    observeBaseline: (...args) => memory.observeBaseline(...args),
    observeBinding: (...args) => memory.observeBinding(...args),
    ping: () => memory.ping(),
    close: () => memory.close(),
  };
}

/** The reasons each use of one refresh token fires, in order. */
async function fired(uses: Use[], bindings = new TokenBindings(), settings: CompiledTokenBinding = config): Promise<string[][]> {
  const all: string[][] = [];
  for (const { atMinute, network = "198.18.0.0/24", device = "phone", cookie = "did=d1" } of uses) {
    const request: NormalisedRequest = {
      method: "POST",
      path: "/oauth/token",
      query: "",
      host: "",
      headers: new Map(cookie ? [["cookie", cookie]] : []),
      headerShape: "s",
      timeMs: atMinute * MINUTE,
      anomalies: [],
      sessionId: "token-1",
      fingerprintId: device,
      subnet: network,
    };
    all.push((await bindings.observe(request, settings)).signals.filter((s) => s.fired).map((s) => s.code));
  }
  return all;
}

describe("token binding", () => {
  it("is quiet for a person on one device, roaming from home Wi-Fi to mobile data and back hours later", async () => {
    expect((await fired([
      { atMinute: 0, network: "home" },
      { atMinute: 5, network: "home" },
      { atMinute: 10, network: "mobile" },
      { atMinute: 15, network: "mobile" },
      { atMinute: 200, network: "home" },
    ])).flat()).toEqual([]);
  });

  it("flags the first use by another device, and every one after it", async () => {
    expect(await fired([{ atMinute: 0 }, { atMinute: 1, device: "laptop" }, { atMinute: 2 }, { atMinute: 3, device: "laptop" }])).toEqual([
      [],
      ["session.new_device"],
      [],
      ["session.new_device"],
    ]);
  });

  it("flags a missing or different companion cookie, and binds one that arrives only after the first use", async () => {
    expect(await fired([{ atMinute: 0 }, { atMinute: 1, cookie: "" }, { atMinute: 2, cookie: "did=other" }])).toEqual([[], ["session.companion_changed"], ["session.companion_changed"]]);
    expect(await fired([{ atMinute: 0, cookie: "" }, { atMinute: 1 }, { atMinute: 2 }])).toEqual([[], [], []]);
  });

  it("a token's one use without its companion cookie yields to the device that carries it moments later; that one is the owner from then on", async () => {
    const settings = { ...config, handoff: { windowMs: 2 * MINUTE, weight: 60 } };
    const race = await fired([
      { atMinute: 0, network: "thief", device: "script", cookie: "" }, // the thief's token alone, first by a hair
      { atMinute: 0, network: "victim" }, // the owner's app, with its device cookie
      { atMinute: 1, network: "thief", device: "script", cookie: "" },
      { atMinute: 20, network: "victim" },
    ], new TokenBindings(), settings);
    expect(race).toEqual([[], ["session.claimed"], ["session.new_device", "session.handoff", "session.companion_changed"], []]);
    // The owner first: the thief without the cookie is flagged, and cannot take the binding back.
    const thief = { network: "thief", device: "script", cookie: "" };
    expect(await fired([{ atMinute: 0 }, { atMinute: 0.1, ...thief }, { atMinute: 0.2, ...thief }])).toEqual([
      [],
      ["session.new_device", "session.companion_changed"],
      ["session.new_device", "session.companion_changed"],
    ]);
    // Not once the first holder used it twice, nor after the window, nor for a use without the cookie.
    expect((await fired([{ atMinute: 0, device: "a", cookie: "" }, { atMinute: 1, device: "a", cookie: "" }, { atMinute: 2, device: "b" }])).at(-1)).toContain("session.new_device");
    expect((await fired([{ atMinute: 0, device: "a", cookie: "" }, { atMinute: 11, device: "b" }])).at(-1)).toContain("session.new_device");
    expect((await fired([{ atMinute: 0, device: "a", cookie: "" }, { atMinute: 1, device: "b", cookie: "" }])).at(-1)).toContain("session.new_device");
  });

  it("flags two networks taking turns (a thief with the whole jar) from the first return on", async () => {
    const uses = await fired([
      { atMinute: 0, network: "victim" },
      { atMinute: 1, network: "thief" },
      { atMinute: 5, network: "victim" },
      { atMinute: 6, network: "thief" },
    ]);
    expect(uses).toEqual([[], [], ["session.concurrent_networks"], ["session.concurrent_networks"]]);
  });

  it("flags more networks within minutes than a person moves through, and more uses than one app makes", async () => {
    expect((await fired(["a", "b", "c", "d"].map((network, i) => ({ atMinute: i * 3, network })))).at(-1)).toContain("session.network_churn");
    expect((await fired([0, 0.5, 1, 1.5, 2].map((atMinute) => ({ atMinute })))).at(-1)).toEqual(["session.use_rate"]);
  });

  it("with a handoff window, flags the first use from another network right beside the last one, and not a roaming phone's next refresh", async () => {
    const settings = { ...config, handoff: { windowMs: 2 * MINUTE, weight: 60 } };
    // The thief's first use, 40 seconds after the victim's refresh, from another network; his
    // next one is a use of a token two networks held, for the alternation window.
    expect(await fired([{ atMinute: 0, network: "victim" }, { atMinute: 0.7, network: "thief" }, { atMinute: 1.5, network: "thief" }], new TokenBindings(), settings))
      .toEqual([[], ["session.handoff"], ["session.concurrent_networks"]]);
    // A phone that left the home Wi-Fi refreshes on mobile data when its access token runs out.
    const roaming = [{ atMinute: 0, network: "home" }, { atMinute: 5, network: "mobile" }, { atMinute: 10, network: "mobile" }, { atMinute: 300, network: "home" }];
    expect((await fired(roaming, new TokenBindings(), settings)).flat()).toEqual([]);
    // Without the setting nothing changes.
    expect((await fired([{ atMinute: 0, network: "victim" }, { atMinute: 0.7, network: "thief" }])).flat()).toEqual([]);
  });

  it("forgets a token after its retention and binds it afresh", async () => {
    expect(await fired([{ atMinute: 0 }, { atMinute: 31 * 24 * 60, device: "new-phone" }])).toEqual([[], []]);
  });
});

describe("token binding: a missing companion cookie on the first use seen", () => {
  const strict = { ...config, companionMissing: 60, handoff: { windowMs: 2 * MINUTE, weight: 60 } };

  it("flags a thief holding only the token even when his use comes before the owner's, and the owner then binds it", async () => {
    const thief = { network: "proxy", device: "curl", cookie: "" };
    expect(await fired([{ atMinute: 0, ...thief }, { atMinute: 0.01, network: "mobile" }, { atMinute: 5, network: "mobile" }, { atMinute: 6, ...thief }], new TokenBindings(), strict)).toEqual([
      ["session.companion_missing"],
      [],
      [],
      ["session.new_device", "session.handoff", "session.companion_changed", "session.companion_missing"],
    ]);
    // Roaming stays quiet: the same device and cookie on a new network once its access token ran out.
    const roaming = [{ atMinute: 0, network: "home" }, { atMinute: 5, network: "home" }, { atMinute: 10, network: "mobile" }, { atMinute: 15, network: "mobile" }];
    expect((await fired(roaming, new TokenBindings(), strict)).flat()).toEqual([]);
  });

  it("says nothing when the policy does not weigh it, or the source never recorded cookies (an imported log)", async () => {
    expect((await fired([{ atMinute: 0, device: "curl", cookie: "" }])).flat()).toEqual([]);
    const imported = { method: "POST", path: "/oauth/token", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [], sessionId: "t", recordedHeaders: new Set(["user-agent"]) };
    expect((await new TokenBindings().observe(imported, strict)).signals.filter((s) => s.fired)).toEqual([]);
  });
});

describe("token binding through a shared store", () => {
  const settings = { ...config, handoff: { windowMs: 2 * MINUTE, weight: 60 } };
  const digest = (value: string) => `h:${value}`;

  it("two detectors on one shared store (two replicas) judge a token by one binding", async () => {
    const memory = new MemoryStore();
    const store = sharedOver(memory);
    const [a, b] = [new TokenBindings(store, digest), new TokenBindings(store, digest)];
    expect(await fired([{ atMinute: 0, network: "victim" }], a, settings)).toEqual([[]]);
    expect(await fired([{ atMinute: 1 / 60, network: "thief" }], b, settings)).toEqual([["session.handoff"]]);
    // Each on its own store, the second replica would have bound the thief's use. The memory store is one replica's: never shared.
    expect(await fired([{ atMinute: 1 / 60, network: "thief" }], new TokenBindings(new MemoryStore(), digest), settings)).toEqual([[]]);
    expect(await fired([{ atMinute: 1 / 60, network: "thief" }], new TokenBindings(memory, digest), settings)).toEqual([[]]);
  });

  it("gives no binding signals, and says the store failed, when the store does not answer", async () => {
    const store: Store = { kind: "shared", apply: async () => [], observeBaseline: async () => ({ mean: 0, variance: 0, samples: 0, lastPeriod: 0 }), ping: async () => false, close: async () => {}, observeBinding: async () => Promise.reject(new StoreUnavailableError("down")) };
    const request = { method: "POST", path: "/oauth/token", query: "", host: "", headers: new Map(), headerShape: "s", timeMs: 0, anomalies: [], sessionId: "t" };
    expect(await new TokenBindings(store).observe(request, settings)).toEqual({ signals: [], degraded: true });
  });
});

describe("token binding: edges of its windows and inputs", () => {
  /** A real epoch start: with times near 0, a sum of two times fits in a window as well as their difference. */
  const T0 = Date.UTC(2026, 11, 6, 9);
  const at = (minutes: number) => T0 / MINUTE + minutes;
  const settings = { ...config, handoff: { windowMs: 2 * MINUTE, weight: 60 } };
  const request = (extra: Partial<NormalisedRequest> = {}): NormalisedRequest => ({
    method: "POST",
    path: "/oauth/token",
    query: "",
    host: "",
    headers: new Map([["cookie", "did=d1"]]),
    headerShape: "s",
    timeMs: T0,
    anomalies: [],
    sessionId: "token-1",
    fingerprintId: "phone",
    subnet: "198.18.0.0/24",
    ...extra,
  });

  it("counts the uses and networks within each window, up to its edge and not past it", async () => {
    // The rate window is 5 minutes (max 4): a use 5 minutes before still counts, one a moment earlier does not.
    const rate = (last: number) => fired([0, 2, 3, 4, last].map((m) => ({ atMinute: at(m) })));
    expect((await rate(5)).map((codes) => codes.includes("session.use_rate"))).toEqual([false, false, false, false, true]);
    expect((await rate(5.01)).flat()).toEqual([]);
    // Four networks, ten minutes apart in all (the churn window): the fourth still sees the first.
    const churn = (last: number) => fired(["a", "b", "c", "d"].map((network, i) => ({ atMinute: at(i === 3 ? last : i), network })));
    expect((await churn(10)).at(-1)).toContain("session.network_churn");
    expect((await churn(10.01)).at(-1)).not.toContain("session.network_churn");
    // Networks used long ago do not count: a person on four networks over an afternoon.
    expect((await fired(["a", "b", "c", "d"].map((network, i) => ({ atMinute: at(i * 60), network })))).flat()).toEqual([]);
  });

  it("flags a handoff up to the window's edge, and two networks taking turns only within the alternation window", async () => {
    const handoff = (minutes: number) => fired([{ atMinute: at(0), network: "victim" }, { atMinute: at(minutes), network: "thief" }], new TokenBindings(), settings);
    expect((await handoff(2)).at(-1)).toEqual(["session.handoff"]);
    expect((await handoff(2.01)).at(-1)).toEqual([]);
    // Turns taken at minutes 0, 1 and 5; the window (10 minutes) runs from the return at 5.
    const turns = (last: number) =>
      fired([{ atMinute: at(0), network: "victim" }, { atMinute: at(1), network: "thief" }, { atMinute: at(5), network: "victim" }, { atMinute: at(last), network: "victim" }]);
    expect((await turns(15)).at(-1)).toEqual(["session.concurrent_networks"]);
    expect((await turns(15.01)).at(-1)).toEqual([]);
  });

  it("keeps flagging a token two networks took turns with for as long as the policy remembers it, up to that edge", async () => {
    // Turns taken at minutes 0, 1 and 5; then the copy is used again after a 30-minute
    // quarantine, from a network of its own, long after every window: a thief whose token works again.
    const DAY = 24 * 60;
    const remembering = { ...config, alternation: { ...config.alternation, rememberMs: DAY * MINUTE } };
    const replayAt = (minutes: number, policy: CompiledTokenBinding) =>
      fired(
        [
          { atMinute: at(0), network: "victim" },
          { atMinute: at(1), network: "thief" },
          { atMinute: at(5), network: "victim" },
          { atMinute: at(minutes), network: "thief-later" },
        ],
        new TokenBindings(),
        policy,
      );
    expect((await replayAt(45, remembering)).at(-1)).toEqual(["session.concurrent_networks"]);
    expect((await replayAt(5 + DAY, remembering)).at(-1)).toEqual(["session.concurrent_networks"]);
    expect((await replayAt(5.01 + DAY, remembering)).at(-1)).toEqual([]);
    // Remembered for the window only (the default), the copy is trusted again.
    expect((await replayAt(45, config)).at(-1)).toEqual([]);
  });

  it("remembers a handoff as two holders too: the quarantine it brings records no use, so no turns are ever seen", async () => {
    const DAY = 24 * 60;
    const remembering = { ...settings, alternation: { ...settings.alternation, rememberMs: DAY * MINUTE } };
    const replayAt = (thiefFirst: number, minutes: number, policy: CompiledTokenBinding) =>
      fired([{ atMinute: at(0), network: "victim" }, { atMinute: at(thiefFirst), network: "thief" }, { atMinute: at(minutes), network: "thief" }], new TokenBindings(), policy);
    // The thief's first use, a minute after the victim's, is the handoff; his next one, after a
    // 30-minute quarantine, from the same network, is flagged for the day the policy remembers.
    expect(await replayAt(1, 45, remembering)).toEqual([[], ["session.handoff"], ["session.concurrent_networks"]]);
    expect((await replayAt(1, 1 + DAY, remembering)).at(-1)).toEqual(["session.concurrent_networks"]);
    expect((await replayAt(1, 1.01 + DAY, remembering)).at(-1)).toEqual([]);
    expect((await replayAt(1, 45, settings)).at(-1)).toEqual([]);
    // Past the handoff window nothing showed two holders: a person who moved, trusted on the new network.
    expect((await replayAt(2.01, 45, remembering)).flat()).toEqual([]);
  });

  it("weighs each signal as the policy says and names its window in seconds", async () => {
    const bindings = new TokenBindings();
    const first = await bindings.observe(request(), settings);
    // The use that binds the token gives no signals at all, fired or not.
    expect(first).toEqual({ signals: [], degraded: false });
    const second = await bindings.observe(request({ timeMs: T0 + 30_000 }), settings);
    expect(second.degraded).toBe(false);
    expect(second.signals).toEqual([
      { code: "session.new_device", value: 0, weight: 60, fired: false, detail: expect.any(String) },
      { code: "session.concurrent_networks", value: 0, weight: 60, fired: false, detail: expect.any(String) },
      { code: "session.use_rate", value: 2, threshold: 4, weight: 60, fired: false, detail: expect.stringContaining("300s") },
      { code: "session.network_churn", value: 1, threshold: 3, weight: 60, fired: false, detail: expect.stringContaining("600s") },
      { code: "session.handoff", value: 0, weight: 60, fired: false, detail: expect.stringContaining("120s") },
      { code: "session.companion_changed", value: 0, weight: 60, fired: false, detail: expect.any(String) },
    ]);
  });

  it("evaluates no companion signal when the policy names no companion cookie, even where it weighs a missing one", async () => {
    const bare = { ...config, companionCookies: [], companionMissing: 60 };
    const bindings = new TokenBindings();
    // The cookie header is there but names nothing the policy asked for: nothing is missing.
    expect(await bindings.observe(request({ headers: new Map([["cookie", "other=x"]]) }), bare)).toEqual({ signals: [], degraded: false });
    const second = await bindings.observe(request({ headers: new Map([["cookie", "other=y"]]), timeMs: T0 + 1_000 }), bare);
    expect(second.signals.map((s) => s.code)).toEqual(["session.new_device", "session.concurrent_networks", "session.use_rate", "session.network_churn"]);
    // A policy that names companion cookies but does not weigh a missing one evaluates only the change.
    const loose = new TokenBindings();
    await loose.observe(request(), config);
    const codes = (await loose.observe(request({ timeMs: T0 + 1_000 }), config)).signals.map((s) => s.code);
    expect(codes).toContain("session.companion_changed");
    expect(codes).not.toContain("session.companion_missing");
  });

  it("tells apart companion cookies whose values only shift from one cookie to the next", async () => {
    const two = { ...config, companionCookies: ["did", "sid"] };
    expect(await fired([{ atMinute: 0, cookie: "did=ab; sid=c" }, { atMinute: 1, cookie: "did=a; sid=bc" }], new TokenBindings(), two)).toEqual([[], ["session.companion_changed"]]);
  });

  it("flags a missing companion cookie in an imported log that did record cookies", async () => {
    const strict = { ...config, companionMissing: 60 };
    const imported = request({ headers: new Map(), recordedHeaders: new Set(["cookie", "user-agent"]) });
    expect((await new TokenBindings().observe(imported, strict)).signals.filter((s) => s.fired).map((s) => s.code)).toEqual(["session.companion_missing"]);
  });

  it("judges nothing, and binds nothing, without a policy or without a token", async () => {
    const bindings = new TokenBindings();
    expect(await bindings.observe(request(), undefined)).toEqual({ signals: [], degraded: false });
    expect(await bindings.observe(request({ sessionId: undefined }), settings)).toEqual({ signals: [], degraded: false });
    expect(await bindings.observe(request({ sessionId: undefined, fingerprintId: "laptop", timeMs: T0 + 1_000 }), settings)).toEqual({ signals: [], degraded: false });
    expect(bindings.size()).toBe(0);
    // The token's first use after those binds it: nothing earlier was taken for it.
    expect((await bindings.observe(request({ fingerprintId: "laptop", timeMs: T0 + 2_000 }), settings)).signals).toEqual([]);
    expect(bindings.size()).toBe(1);
  });

  it("keeps its bindings in a store of its own when given the memory store, apart from that store and from another detector on it", async () => {
    const memory = new MemoryStore();
    const [a, b] = [new TokenBindings(memory), new TokenBindings(memory)];
    await a.observe(request({ subnet: "victim" }), settings);
    // Over one store, b would see a's binding and flag the handoff; each replica's own, it binds afresh.
    expect((await b.observe(request({ subnet: "thief", timeMs: T0 + 1_000 }), settings)).signals).toEqual([]);
    expect([a.size(), b.size(), memory.size]).toEqual([1, 1, 0]);
    // Over a shared store, the detector keeps nothing itself.
    const c = new TokenBindings(sharedOver(memory));
    await c.observe(request(), settings);
    expect([c.size(), memory.size]).toEqual([0, 1]);
  });

  it("shares one binding memory between detectors on the memory store when given one (replicas in one process)", async () => {
    const [memory, bindingMemory] = [new MemoryStore(), bindingMemoryStore()];
    // Replicas share the pseudonymisation key, so their companion-cookie hashes agree.
    const digest = (value: string) => `h:${value}`;
    const [a, b] = [new TokenBindings(memory, digest, bindingMemory), new TokenBindings(memory, digest, bindingMemory)];
    await a.observe(request({ subnet: "victim" }), settings);
    const replay = await b.observe(request({ subnet: "thief", timeMs: T0 + 1_000 }), settings);
    expect(replay.signals.filter((s) => s.fired).map((s) => s.code)).toEqual(["session.handoff"]);
    // Apart from the counters' store.
    expect([bindingMemory.size, memory.size]).toEqual([1, 0]);
  });
});
