import { describe, expect, it } from "vitest";
import { LEGIT_NEW_ACCOUNT, type LabLine } from "../../src/lab/lines.js";
import { replay } from "../../src/lab/replay/engine.js";
import { offlineTarget } from "../../src/lab/replay/offline.js";
import { parseScenarioSet } from "../../src/lab/simulate/scenario.js";
import { simulate } from "../../src/lab/simulate/simulate.js";
import { labEvents } from "../../src/lab/sweep/run.js";
import { examplePolicyPath } from "../support/policies.js";

/**
 * Sign-ups (`legit.signUpShare`): of the accounts that never signed in here, that share is
 * created in the window, by its first web session, in that session's browser, before its sign-in.
 */

const lines = (signUpShare: number) =>
  [
    ...simulate(
      parseScenarioSet(
        `
site: { users: 300, products: 100 }
legit: { sessionsPerMinute: 40, loginShare: 0.9, returningShare: 0.5, signUpShare: ${signUpShare} }
scenarios:
  - name: shop
    duration: 2m
`,
        "sign-ups.yaml",
      ),
      3,
    ),
  ];

interface Post {
  path: string;
  label: string;
  account: string;
  device?: string;
  port: string;
}

/** The lab's sign-up and sign-in posts, in order: who, from which browser (device cookie) and connection. */
function posts(all: LabLine[]): Post[] {
  const found: Post[] = [];
  for (const line of all) {
    if (line.type !== "check") continue;
    const http = (line.checkRequest as any).attributes.request.http;
    const source = (line.checkRequest as any).attributes.source.address.socketAddress;
    if (http.path !== "/api/v1/register" && http.path !== "/api/v1/login") continue;
    const body = JSON.parse(Buffer.from(http.rawBody, "base64").toString("utf8"));
    const device = /did=([0-9a-f]+)/.exec(http.headers.cookie ?? "")?.[1];
    found.push({ path: http.path, label: line.label, account: body.email ?? body.username, device, port: String(source.portValue) });
  }
  return found;
}

describe("sign-ups in the lab", () => {
  it("registers new accounts only, once each, in the browser that then signs in", () => {
    const all = posts(lines(1));
    const registrations = all.filter((p) => p.path === "/api/v1/register");
    expect(registrations.length).toBeGreaterThan(5);
    expect(registrations.every((p) => p.label === LEGIT_NEW_ACCOUNT && p.device !== undefined)).toBe(true);
    expect(new Set(registrations.map((p) => p.account)).size).toBe(registrations.length);
    const signedInAfter = registrations.filter((r) => {
      const later = all.slice(all.indexOf(r) + 1).find((p) => p.path === "/api/v1/login" && p.account === r.account && p.port === r.port);
      if (later) expect(later.device).toBe(r.device);
      return later !== undefined;
    });
    expect(signedInAfter.length).toBeGreaterThan(0);
    expect(signedInAfter.length).toBeLessThan(registrations.length); // some register and do not sign in here
  });

  it("answers each sign-up with the storefront's creation marker, which reaches replay as a logged response header", async () => {
    const registered = new Set<string>();
    const marked = new Set<string>();
    for await (const event of labEvents(lines(1))) {
      if (!("kind" in event)) continue;
      if (event.kind === "check" && event.request.attributes?.request?.http?.path === "/api/v1/register") registered.add(event.request.attributes.request.http.id ?? "");
      if (event.kind === "access_log" && event.entry.response?.response_headers?.["x-signup-result"] === "created") marked.add(event.entry.request?.request_id ?? "");
    }
    expect(registered.size).toBeGreaterThan(5);
    expect(marked).toEqual(registered);
  });

  it("sends none without signUpShare", () => {
    expect(posts(lines(0)).some((p) => p.path === "/api/v1/register")).toBe(false);
  });

  it("replays with no legitimate request asked anything, sign-ups included", async () => {
    const result = await replay(labEvents(lines(1)), {
      targets: [await offlineTarget(examplePolicyPath)],
      loginEndpoints: new Set(["login", "token"]),
      maxDisorderMs: 60_000,
    });
    expect(result.problems.filter((p) => p.kind !== "unmatched")).toEqual([]);
    expect(result.scenarios[0]!.legit.friction).toBe(0);
  });
});
