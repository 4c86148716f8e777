import { describe, expect, it } from "vitest";
import { asLogged } from "../../src/lab/replay/engine.js";
import { examplePolicyWith, figuresOf, generate, linesText, replayFile, tempFile } from "./support.js";

const BURST = `
site: { users: 300, products: 200 }
legit: { sessionsPerMinute: 20 }
scenarios:
  - name: burst
    duration: 3m
    attacks:
      - { kind: credential_stuffing, at: 30s, duration: 1m, rate: 5, hitRate: 0.2, knownUserShare: 1, takeover: { delay: 20s, pages: 2 } }
`;

/** The example policy plus a deny-list entry for the burst's hosting range: every attempt is denied at once. */
const blockingPolicy = () => examplePolicyWith((spec) => spec.reputation.lists.push({ name: "hosting", effect: "block", cidrs: ["192.0.2.128/25"] }));
/** The example policy without rules: nothing is ever denied. */
const permissivePolicy = () => examplePolicyWith((spec) => (spec.rules = []));

describe("replay (offline)", () => {
  it("measures a burst: mitigated, time to first and sustained mitigation, no false positives", async () => {
    const { result } = await replayFile(tempFile(linesText(generate(BURST))));
    const burst = figuresOf(result, "burst");
    expect(burst.attack.requests).toBeGreaterThan(250);
    expect(burst.attack.mitigatedShare).toBeGreaterThan(0.9);
    // An address that tried two accounts, failed and never succeeded is challenged (ip.slow_stuffing),
    // well before the 10 logins a minute that throttle it: at 5/s, within the first second or two.
    expect(burst.firstMitigationSeconds).toBeGreaterThan(0);
    expect(burst.firstMitigationSeconds).toBeLessThan(4);
    expect(burst.sustainedMitigationSeconds).not.toBeNull();
    expect(burst.legit.falsePositives).toBe(0);
    expect(result.problems).toEqual([]);
  });

  it("hands the outcome path what Envoy logs: Palisade's denial, not the application's answer", async () => {
    const { outcomes } = await replayFile(tempFile(linesText(generate(BURST))));
    const logins = outcomes.filter((r) => r.path === "/api/v1/login");
    const denied = logins.filter((r) => r.deniedByAuthz);
    // Denied: the application never answered; Envoy logged Palisade's own status.
    expect(denied.length).toBeGreaterThan(100);
    expect(denied.every((r) => [401, 403, 429].includes(r.statusCode!))).toBe(true);
    expect(logins.some((r) => !r.deniedByAuthz && r.statusCode === 200)).toBe(true);
    expect(logins.every((r) => r.requestId !== undefined)).toBe(true);
  });

  it("hands the outcome path the deciding replica's pseudonyms, as Envoy copies the ext_authz metadata into its log", async () => {
    // Another replica than the one that decided gets the entry: without them its success would
    // land on the address only, and the account would never have signed in.
    const { outcomes } = await replayFile(tempFile(linesText(generate(BURST))));
    const signedIn = outcomes.filter((r) => r.path === "/api/v1/login" && !r.deniedByAuthz && r.statusCode === 200);
    expect(signedIn.length).toBeGreaterThan(0);
    expect(signedIn.every((r) => r.attribution?.endpoint === "login" && r.attribution.usernameId !== undefined)).toBe(true);
  });

  it("rewrites a denied request's entry as Envoy would: denial status, UAEX flag", () => {
    const entry = { common_properties: { start_time: { seconds: 1 } }, response: { response_code: { value: 200 } } };
    const logged = asLogged(entry, { action: "throttle", denied: true, status: 429 });
    expect(logged.response?.response_code?.value).toBe(429);
    expect(logged.common_properties?.response_flags?.unauthorized_details?.reason).toBe("EXTERNAL_SERVICE");
    expect(asLogged(entry, { action: "allow", denied: false })).toBe(entry);
  });

  it("counts a takeover only when the successful attack login was allowed, and drops follow-ups of denied hits", async () => {
    const file = tempFile(linesText(generate(BURST)));
    const open = figuresOf((await replayFile(file, { policy: permissivePolicy() })).result, "burst");
    expect(open.accountsTakenOver).toBeGreaterThan(5);
    expect(open.followUpsDropped).toBe(0);
    const blocked = figuresOf((await replayFile(file, { policy: blockingPolicy() })).result, "burst");
    expect(blocked.attack.mitigatedShare).toBe(1);
    expect(blocked.accountsTakenOver).toBe(0);
    expect(blocked.followUpsDropped).toBeGreaterThan(0);
  });
});
