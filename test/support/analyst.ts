import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../../src/app/start.js";

/** One token per role; the names are what the audit trail records as `token:<name>`. */
export const TOKENS = {
  viewer: "viewer-token-0123456789abcdefgh",
  analyst: "analyst-token-0123456789abcdefg",
  admin: "admin-token-0123456789abcdefghij",
  reporter: "reporter-token-0123456789abcdef",
} as const;
export const TOKEN_NAMES = { viewer: "vera", analyst: "alice", admin: "root", reporter: "idp" } as const;

export const WEBHOOK_SECRET = "webhook-secret-0123456789abcdef0123456789";

/** A scratch directory with the tokens file and the webhook secret, as mounted Secrets. */
export function secretsDir(): { dir: string; tokens: string; webhookSecret: string } {
  const dir = mkdtempSync(join(tmpdir(), "palisade-secrets-"));
  const tokens = join(dir, "tokens.yaml");
  const lines = Object.entries(TOKENS).map(([role, token]) => `  - { name: ${TOKEN_NAMES[role as keyof typeof TOKENS]}, role: ${role}, token: ${token} }`);
  writeFileSync(tokens, `tokens:\n${lines.join("\n")}\n`);
  const webhookSecret = join(dir, "webhook-secret");
  writeFileSync(webhookSecret, WEBHOOK_SECRET);
  return { dir, tokens, webhookSecret };
}

export interface ApiAnswer {
  status: number;
  type: string | null;
  body: any;
  text: string;
}

/** The analyst API as curl would use it: JSON bodies, a bearer token (or none). */
export function analystClient(app: App, token?: string) {
  const call = async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`http://127.0.0.1:${app.adminPort}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    const type = response.headers.get("content-type");
    return { status: response.status, type, text, body: type?.includes("json") && text ? JSON.parse(text) : text };
  };
  return {
    get: (path: string) => call("GET", path),
    post: (path: string, body?: unknown) => call("POST", path, body ?? {}),
    delete: (path: string, body?: unknown) => call("DELETE", path, body),
  };
}

export interface ReceivedWebhook {
  type: string;
  body: any;
  verified: boolean;
}

/** A webhook receiver on 127.0.0.1 that checks each signature as a real one would. */
export async function webhookReceiver(): Promise<{ url: string; received: ReceivedWebhook[]; close(): Promise<void> }> {
  const received: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const header = String(req.headers["x-palisade-signature"] ?? "");
      const { t, v1 } = Object.fromEntries(header.split(",").map((part) => part.split("=") as [string, string]));
      const expected = createHmac("sha256", WEBHOOK_SECRET).update(`${t}.${text}`).digest();
      const given = Buffer.from(v1 ?? "", "hex");
      const verified = given.length === expected.length && timingSafeEqual(given, expected);
      received.push({ type: String(req.headers["x-palisade-event"]), body: JSON.parse(text), verified });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Writes a policy file in a fresh directory and returns its path. */
export function policyFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "palisade-policy-")), "policy.yaml");
  writeFileSync(file, text);
  return file;
}
