/**
 * The built-in challenge over HTTP, as an app (no browser, no cookies) meets it: through the
 * Envoy front for requests and the verify route, and straight to the gRPC server where a test
 * needs the decision's reasons. Solutions are computed with altcha-lib in Node.
 */
import { solveChallenge, type Challenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateRedisUnsupported, startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import type { EnvoyFront } from "../support/envoy-front.js";
import { CHALLENGE_PATH, challengeKeyFile, policyFile, startChallengeRig, type ChallengeRig } from "./fixture.js";

const APP = { accept: "application/json", "user-agent": "shop-app/4.2 (Android 14)", "accept-language": "en" };

interface ProofOfWork {
  algorithm: string;
  level: number;
  challenge: Challenge;
  verify_url: string;
  pass_header: string;
  support_url?: string;
}

async function challenged(front: EnvoyFront, path = "/account/orders", headers: Record<string, string> = APP): Promise<ProofOfWork> {
  const response = await fetch(`${front.url}${path}`, { headers });
  expect(response.status).toBe(401);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const problem = (await response.json()) as { proof_of_work: ProofOfWork };
  return problem.proof_of_work;
}

async function solved(pow: ProofOfWork): Promise<string> {
  const solution = await solveChallenge({ challenge: pow.challenge, deriveKey });
  return Buffer.from(JSON.stringify({ challenge: { parameters: pow.challenge.parameters, signature: pow.challenge.signature }, solution })).toString("base64");
}

async function redeem(front: EnvoyFront, payload: unknown, path = `${CHALLENGE_PATH}/verify`): Promise<{ status: number; body: any; cookie: string | null }> {
  const response = await fetch(`${front.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...APP },
    body: typeof payload === "string" ? JSON.stringify({ payload }) : JSON.stringify(payload),
  });
  return { status: response.status, body: await response.json(), cookie: response.headers.get("set-cookie") };
}

async function passFor(front: EnvoyFront, path = "/account/orders"): Promise<string> {
  const answer = await redeem(front, await solved(await challenged(front, path)));
  expect(answer.status).toBe(201);
  return answer.body.token as string;
}

function withPass(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...APP, "x-palisade-pass": token, ...extra };
}

describe("an app passes the challenge", () => {
  let rig: ChallengeRig;
  let envoy: EnvoyAuthzClient;
  const clock = { offsetMs: 0, now: () => Date.now() + clock.offsetMs };

  beforeAll(async () => {
    rig = await startChallengeRig({}, { clock });
    envoy = envoyAuthzClient(`127.0.0.1:${rig.app.grpcPort}`);
  });
  afterAll(async () => {
    envoy?.close();
    await rig?.stop();
  });

  it("gets the parameters and the verify URL in the problem document, solves them, and is let through with a header", async () => {
    const pow = await challenged(rig.front);
    expect(pow).toMatchObject({ algorithm: "SHA-256", level: 1, verify_url: `${CHALLENGE_PATH}/verify`, pass_header: "x-palisade-pass", support_url: "https://shop.example/help" });
    const answer = await redeem(rig.front, await solved(pow));
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ header: "x-palisade-pass", level: 1 });
    expect(answer.cookie).toMatch(/^palisade_pass=[^;]+; Path=\/; Max-Age=1800; HttpOnly; SameSite=Lax$/);
    const through = await fetch(`${rig.front.url}/account/orders`, { headers: withPass(answer.body.token) });
    expect(through.status).toBe(200);
    const decision = await envoy.check({ path: "/account/orders", ip: rig.front.clientIp, headers: withPass(answer.body.token) });
    expect(metadata(decision)).toMatchObject({ action: "allow", reasons: ["challenge.passed", "friction.waived"] });
  });

  it("accepts each solution once", async () => {
    const payload = await solved(await challenged(rig.front));
    expect((await redeem(rig.front, payload)).status).toBe(201);
    expect(await redeem(rig.front, payload)).toMatchObject({ status: 403, body: { reason: "replayed", status: 403 } });
  });

  it("refuses a forged token: a changed signature, or claims changed under the old signature", async () => {
    const token = await passFor(rig.front);
    const [body, signature] = token.split(".") as [string, string];
    const flipped = `${body}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<string, unknown>;
    const raised = `${Buffer.from(JSON.stringify({ ...claims, lvl: 9 })).toString("base64url")}.${signature}`;
    for (const forged of [flipped, raised, "not-a-token", `${body}.${signature}.extra`, "x".repeat(5000)]) {
      const decision = await envoy.check({ path: "/account/orders", ip: rig.front.clientIp, headers: withPass(forged) });
      expect(metadata(decision)).toMatchObject({ action: "challenge", reasons: ["challenge.pass_rejected"] });
    }
  });

  it("keeps the pass when the address changes within the network, and calls a pass from other networks a replay", async () => {
    const token = await passFor(rig.front);
    const sameNetwork = await envoy.check({ path: "/account/orders", ip: "203.0.113.77", headers: withPass(token) });
    expect(metadata(sameNetwork).action).toBe("allow");
    const elsewhere = await envoy.check({ path: "/account/orders", ip: "198.51.100.5", headers: withPass(token) });
    expect(metadata(elsewhere)).toMatchObject({ action: "challenge", reasons: ["challenge.pass_replayed"], risk: 30 });
    const otherClient = await envoy.check({ path: "/account/orders", ip: rig.front.clientIp, headers: withPass(token, { "user-agent": "curl/8.5.0" }) });
    expect(metadata(otherClient)).toMatchObject({ action: "challenge", reasons: ["challenge.pass_rejected"] });
  });

  it("does not let a pass earned on a low endpoint open a critical one", async () => {
    const token = await passFor(rig.front);
    const login = await envoy.check({ path: "/login", ip: rig.front.clientIp, headers: withPass(token) });
    expect(metadata(login)).toMatchObject({ action: "challenge", reasons: ["challenge.pass_rejected"] });
    const loginPass = await passFor(rig.front, "/login");
    const account = await envoy.check({ path: "/account/orders", ip: rig.front.clientIp, headers: withPass(loginPass) });
    expect(metadata(account).action).toBe("allow");
  });

  it("refuses a solution sent from another network than the one challenged", async () => {
    const payload = await solved(await challenged(rig.front));
    rig.front.clientIp = "192.0.2.44";
    try {
      expect(await redeem(rig.front, payload)).toMatchObject({ status: 403, body: { reason: "foreign_network" } });
    } finally {
      rig.front.clientIp = "203.0.113.10";
    }
  });

  it("answers bad input with a problem, never a pass or a crash", async () => {
    const notSolved = await challenged(rig.front);
    const wrong = Buffer.from(JSON.stringify({ challenge: { parameters: notSolved.challenge.parameters, signature: notSolved.challenge.signature }, solution: { counter: 1, derivedKey: "00".repeat(32) } })).toString("base64");
    expect(await redeem(rig.front, wrong)).toMatchObject({ status: 403, body: { reason: "wrong_answer" } });
    const testMode = Buffer.from(JSON.stringify({ challenge: null, solution: null, test: true })).toString("base64");
    for (const payload of [testMode, "%%%", "", { payload: 42 }, { nothing: true }]) {
      expect(await redeem(rig.front, payload)).toMatchObject({ status: 400, body: { reason: "malformed" } });
    }
    const huge = await redeem(rig.front, "A".repeat(100_000));
    expect(huge.status).toBe(413);
    const text = await fetch(`${rig.front.url}${CHALLENGE_PATH}/verify`, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
    expect([400, 415]).toContain(text.status);
    expect((await fetch(`${rig.front.url}${CHALLENGE_PATH}/elsewhere`)).status).toBe(404);
  });

  it("refuses a token once it has expired, and a challenge solved too late", async () => {
    const token = await passFor(rig.front);
    const payload = await solved(await challenged(rig.front));
    clock.offsetMs = 31 * 60_000;
    try {
      const decision = await envoy.check({ path: "/account/orders", ip: rig.front.clientIp, headers: withPass(token), timeMs: clock.now() });
      expect(metadata(decision)).toMatchObject({ action: "challenge", reasons: ["challenge.pass_rejected"] });
      expect(await redeem(rig.front, payload)).toMatchObject({ status: 403, body: { reason: "expired" } });
    } finally {
      clock.offsetMs = 0;
    }
    const metrics = await (await fetch(`http://127.0.0.1:${rig.app.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/palisade_challenge_passes_total\{outcome="expired"\} 1\b/);
    expect(metrics).toMatch(/palisade_challenges_failed_total\{reason="expired"\} 1\b/);
  });
});

describe("difficulty and language", () => {
  it("asks more work of riskier clients, and speaks the client's language", async () => {
    const rig = await startChallengeRig({ policy: policyFile(true) });
    try {
      expect((await challenged(rig.front)).level).toBe(2);
      const page = await fetch(`${rig.front.url}/account/orders`, { headers: { accept: "text/html", "accept-language": "fr-CH, de-DE;q=0.8, en;q=0.5" } });
      expect(page.status).toBe(401);
      expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'; script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
      const html = await page.text();
      expect(html).toContain('<html lang="de">');
      expect(html).toContain("<h1>Einen Moment bitte</h1>");
      expect(html).toContain("This site asks your browser");
    } finally {
      await rig.stop();
    }
  });
});

describe.skipIf(privateRedisUnsupported)("replicas sharing Redis", () => {
  let redis: RedisServerHandle;
  const rigs: ChallengeRig[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const key = challengeKeyFile();
    for (let i = 0; i < 2; i++) rigs.push(await startChallengeRig({ redisUrl: redis.url, challengeKeyFile: key }));
  });
  afterAll(async () => {
    for (const rig of rigs) await rig.stop();
    await redis?.stop();
  });

  it("accept one solution once across replicas, and each honours the other's pass", async () => {
    const [a, b] = rigs as [ChallengeRig, ChallengeRig];
    const payload = await solved(await challenged(a.front));
    const first = await redeem(a.front, payload);
    expect(first.status).toBe(201);
    expect(await redeem(b.front, payload)).toMatchObject({ status: 403, body: { reason: "replayed" } });
    expect((await fetch(`${b.front.url}/account/orders`, { headers: withPass(first.body.token) })).status).toBe(200);
  });
});
