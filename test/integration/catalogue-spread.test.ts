/**
 * A catalogue scraped by people-like browser sessions through the real Check service against a
 * real Redis: each session loads the site, keeps its cookie, reads a few products and loads
 * their pictures, so nothing about one session differs from a shopper's; what differs is that
 * between them they read each id once. Shoppers read popular products, again and again.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app/start.js";
import { startRedisServer, type RedisServerHandle } from "../helpers/redis-server.js";
import { startTestApp } from "../support/app.js";
import { envoyAuthzClient, metadata, type EnvoyAuthzClient } from "../support/envoy-client.js";
import { examplePolicyPath } from "../support/policies.js";

/** The example policy for a shop of 1,000 products: its walk shows after a few hundred reads, not thousands. */
const CATALOGUE = 1_000;

const CHROME = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  accept: "application/json",
  "accept-language": "en-GB,en;q=0.9",
  "accept-encoding": "gzip, deflate, br, zstd",
};

let redis: RedisServerHandle;
let app: App;
let client: EnvoyAuthzClient;
let clockMs = Date.now() - 4 * 3_600_000;

/** A deterministic pseudo-random sequence, so runs are repeatable. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

interface Decided {
  action: string;
  reasons: string[];
}

async function get(ip: string, path: string, session: string, atMs: number): Promise<Decided> {
  const decided = metadata(await client.check({ path, ip, headers: { ...CHROME, cookie: `sid=${session}` }, timeMs: atMs }));
  return { action: String(decided.action), reasons: decided.reasons as string[] };
}

/** A browser session: the shell, then each product's data and picture; a search first when `searches`. The products' decisions. */
async function browse(ip: string, session: string, ids: number[], searches = false): Promise<Decided[]> {
  await get(ip, "/static/app.js", session, (clockMs += 300));
  if (searches) await get(ip, "/api/v1/search?q=boots", session, (clockMs += 2_000));
  const decided: Decided[] = [];
  for (const id of ids) {
    decided.push(await get(ip, `/api/v1/products/${id}`, session, (clockMs += 1_500)));
    await get(ip, `/static/img/products/${id}.webp`, session, (clockMs += 100));
  }
  return decided;
}

/** The shop's twenty best sellers. */
const popular = (next: () => number) => Math.floor(next() * 20) + 1;

beforeAll(async () => {
  const example = readFileSync(examplePolicyPath, "utf8");
  const policy = join(mkdtempSync(join(tmpdir(), "palisade-spread-")), "policy.yaml");
  writeFileSync(policy, example.replace("catalogueSize: 8000", `catalogueSize: ${CATALOGUE}`));
  expect(readFileSync(policy, "utf8")).not.toEqual(example);
  redis = await startRedisServer();
  app = await startTestApp({ redisUrl: redis.url, trustEventTime: true, policy });
  client = envoyAuthzClient(`127.0.0.1:${app.grpcPort}`);
});

afterAll(async () => {
  client?.close();
  await app?.stop();
  await redis?.stop();
});

describe("a catalogue read once by people-like sessions", { timeout: 180_000 }, () => {
  it("challenges the walk's sessions from their third read once the bound expects repeats, never more than a challenge, and leaves shoppers alone", async () => {
    const next = random(11);
    // The catalogue shuffled, four ids to a session, each session on its own residential address.
    const ids = Array.from({ length: CATALOGUE }, (_, i) => i + 1);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    const walk: Decided[][] = [];
    for (let s = 0; s < 100; s++) walk.push(await browse(`100.${90 + (s % 9)}.${s}.${(s % 200) + 20}`, `walker${s}`, ids.slice(s * 4, s * 4 + 4)));
    // Uniform readers of 1,000 ids repeat 30 times in about 250 reads: until then nothing is said.
    expect(walk.slice(0, 55).flat().filter((d) => d.action !== "allow")).toEqual([]);
    const late = walk.slice(75);
    expect(late.map((reads) => reads.map((d) => d.action))).toEqual(late.map(() => ["allow", "allow", "challenge", "challenge"]));
    expect(late[0]![2]!.reasons).toEqual(expect.arrayContaining(["session.first_reads", "site.catalogue_spread"]));
    expect(walk.flat().filter((d) => d.action !== "allow" && d.action !== "challenge")).toEqual([]);

    // Meanwhile shoppers of the best sellers, and one who searched before reading three fresh ids, are left alone.
    const during: Decided[] = [];
    for (let s = 0; s < 10; s++) during.push(...(await browse(`100.81.${s}.7`, `shopper${s}`, [popular(next), popular(next), popular(next)])));
    during.push(...(await browse("100.82.0.7", "searcher", [901, 902, 903].map((i) => ids[i]!), true)));
    expect(during.filter((d) => d.action !== "allow")).toEqual([]);
  });
});
