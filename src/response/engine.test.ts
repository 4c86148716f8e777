import { afterEach, describe, expect, it } from "vitest";
import { engineHarness, responsePolicy, type EngineHarness } from "../../test/support/response.js";
import type { CompiledPolicy } from "../policy/compile.js";
import type { ResponseObserver } from "./engine.js";

let h: EngineHarness;
afterEach(async () => h?.stop());

/** An observer that writes down what the engine tells telemetry. */
function recorder() {
  const heard: string[] = [];
  const observer: ResponseObserver = {
    event: (event) => heard.push(`event ${event.type}`),
    held: (quarantine) => heard.push(`held ${quarantine.rule}`),
    policyInForce: (policy: CompiledPolicy) => heard.push(`policy ${policy.version.replace(/\+rt\..*/, "+rt")}`),
    relief: (kind) => heard.push(`relief ${kind}`),
  };
  return { heard, observer };
}

describe("the response engine as telemetry sees it", () => {
  it("tells the observer of the policy in force, each event, each held request and each relief", async () => {
    const { heard, observer } = recorder();
    h = await engineHarness(undefined, { observer });
    expect(heard).toContain("policy v1");
    heard.length = 0;
    await h.engine.controls.disableRule("deny", { actor: "token:alice" });
    expect(heard).toEqual(["policy v1+rt", "event rule.disabled"]);
    heard.length = 0;
    await h.check("/trap", "192.0.2.40");
    await h.check("/deny", "192.0.2.40");
    expect(heard).toContain("event quarantine.created");
    expect(heard).toContain("held trap");
    heard.length = 0;
    await h.engine.recordRelief("mfa", { username: "u-1" }, h.clock.now);
    expect(heard).toEqual(["relief mfa"]);
  });

  it("writes the decision record and the statistics of an enforcement to the shared store, under the limits of the policy in force", async () => {
    h = await engineHarness();
    const { decision } = await h.check("/deny", "192.0.2.41");
    await h.engine.records.flush();
    expect(await h.engine.records.find(decision.decisionId)).toMatchObject({ action: "block", rule: "deny", count: 1 });
    await h.engine.stats.flush();
    // Read from the shared store: written there, under the retention of the policy in force.
    const [bucket] = await h.backend.stats.read("minute", h.clock.now, h.clock.now);
    expect(bucket?.counts).toMatchObject({ n: 1, "a:block": 1 });
    expect(h.engine.stale).toBe(false);
  });

  it("announces each new file version once, naming the version it replaced", async () => {
    h = await engineHarness(responsePolicy("v1"));
    await h.publish(responsePolicy("v2"));
    // The new version is kept and announced after the reload, without being awaited there.
    for (let turn = 0; turn < 100 && !h.events.some((e) => e.type === "policy.loaded" && e.version === "v2"); turn++) await new Promise(setImmediate);
    const loaded = h.events.filter((e) => e.type === "policy.loaded");
    expect(loaded).toMatchObject([
      { version: "v1", actor: "system" },
      { version: "v2", actor: "system", previousVersion: "v1" },
    ]);
    expect(loaded[0]).not.toHaveProperty("previousVersion", expect.anything());
  });
});
