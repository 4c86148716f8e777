import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { runReplay, type ReplayCommand } from "../../src/lab/replay/run.js";
import { palisadeServices, type AuthorizationImplementation } from "../../src/transport/grpc/protos.js";
import { startServer } from "../contract/upstream.js";
import { startTestApp } from "../support/app.js";
import { examplePolicyPath } from "../support/policies.js";
import { generate, linesText, tempFile } from "./support.js";

const SCENARIO = `
site: { users: 200, products: 100 }
legit: { sessionsPerMinute: 15 }
scenarios:
  - name: burst
    duration: 2m
    attacks: [{ kind: credential_stuffing, at: 20s, duration: 40s, rate: 4, hitRate: 0.1, knownUserShare: 1 }]
`;

describe("replay --target: the same traffic through a running server over gRPC", () => {
  let app: App;
  const file = tempFile(linesText(generate(SCENARIO)));
  const command = (target?: string): ReplayCommand => ({
    input: file, policy: examplePolicyPath, target, json: false, format: "auto", scenario: "", maxDisorderMs: 60_000, examples: 3, progress: false,
  });

  beforeAll(async () => {
    app = await startTestApp({ trustEventTime: true });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("reaches the decisions offline replay reaches", async () => {
    const live = await runReplay(command(`127.0.0.1:${app.grpcPort}`));
    const offline = await runReplay(command());
    const [l, o] = [live.result.scenarios[0]!, offline.result.scenarios[0]!];
    expect(live.result.notes).toEqual([]); // the server took the access-log stream
    expect(live.text).toContain(`gRPC 127.0.0.1:${app.grpcPort}`);
    expect([l.requests, l.attack.requests, l.legit.requests]).toEqual([o.requests, o.attack.requests, o.legit.requests]);
    expect(l.legit.falsePositives).toBe(o.legit.falsePositives);
    // Outcomes reach the server on a stream, as from Envoy, so a Check may be decided before
    // the outcome of the one just before it lands: a request or two may go the other way.
    expect(Math.abs(l.attack.mitigated - o.attack.mitigated)).toBeLessThanOrEqual(3);
    expect(l.attack.mitigated).toBeGreaterThan(0);
  });

  it("goes on, with a note, against a server without the access-log service", async () => {
    const allowAll: AuthorizationImplementation = {
      Check: (_call, callback) => callback(null, { status: { code: 0 }, dynamic_metadata: { fields: { action: { stringValue: "allow" } } } }),
    };
    const authzOnly = await startServer((server) => server.addService(palisadeServices().authorization.definition, allowAll));
    try {
      const { result } = await runReplay(command(authzOnly.address));
      expect(result.scenarios[0]!.attack.mitigated).toBe(0);
      expect(result.notes).toEqual([expect.stringMatching(/^the server does not implement StreamAccessLogs; \d+ access-log entries were not recorded/)]);
    } finally {
      await authzOnly.stop();
    }
  });
});
