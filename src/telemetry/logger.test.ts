import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import { CENSORED } from "./redact.js";

function memoryLogger(level?: string) {
  const lines: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void lines.push(line) } });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, records };
}

describe("createLogger", () => {
  it("writes JSON lines with service, level name and ISO time", () => {
    const { logger, records } = memoryLogger();
    logger.info({ decisionId: "d-1" }, "decided");
    const [record] = records();
    expect(record).toMatchObject({ service: "palisade", level: "info", msg: "decided", decisionId: "d-1" });
    expect(new Date(record?.time as string).toISOString()).toBe(record?.time);
  });

  it("honours the level", () => {
    const { logger, records } = memoryLogger("warn");
    logger.info("hidden");
    logger.warn("shown");
    expect(records().map((record) => record.msg)).toEqual(["shown"]);
  });

  it("censors secrets at any depth and in every spelling", () => {
    const { logger, records } = memoryLogger();
    logger.info({
      password: "hunter2",
      login: { credentials: { user: "x" }, nested: { deeper: { access_token: "t", "Api-Key": "k" } } },
      settings: { pseudonymKey: "key", pseudonymPreviousKey: "old" },
    });
    const [record] = records();
    expect(record?.password).toBe(CENSORED);
    expect(record?.login).toEqual({
      credentials: CENSORED,
      nested: { deeper: { access_token: CENSORED, "Api-Key": CENSORED } },
    });
    expect(record?.settings).toEqual({ pseudonymKey: CENSORED, pseudonymPreviousKey: CENSORED });
  });

  it("keeps a connection URL's host and hides its user-info", () => {
    const { logger, records } = memoryLogger();
    logger.info({ settings: { redisUrl: "rediss://default:s3cret@redis.cache:6380/0" } });
    expect(records()[0]?.settings).toEqual({ redisUrl: "rediss://***@redis.cache:6380/0" });
  });

  it("censors headers that carry secrets or client addresses", () => {
    const { logger, records } = memoryLogger();
    const headers = { authorization: "Bearer x", cookie: "sid=1", "x-forwarded-for": "203.0.113.9", accept: "*/*" };
    logger.info({ req: { headers } });
    expect(records()[0]?.req).toEqual({
      headers: { authorization: CENSORED, cookie: CENSORED, "x-forwarded-for": CENSORED, accept: "*/*" },
    });
  });

  it("censors raw identifiers but keeps pseudonyms", () => {
    const { logger, records } = memoryLogger();
    logger.warn({ clientIp: "203.0.113.9", username: "alice", ipId: "p-ip", usernameId: "p-user", subject: "p-user" });
    expect(records()[0]).toMatchObject({
      clientIp: CENSORED,
      username: CENSORED,
      ipId: "p-ip",
      usernameId: "p-user",
      subject: "p-user",
    });
  });

  it("censors the sensitive parts of an Envoy CheckRequest and header lists", () => {
    const { logger, records } = memoryLogger();
    const checkRequest = {
      attributes: {
        source: { address: { socket_address: { address: "203.0.113.9", port_value: 5555 } } },
        request: { http: { method: "POST", path: "/login", headers: { "x-real-ip": "203.0.113.9" }, body: "user=alice" } },
      },
    };
    const headerList = [{ key: "authorization", value: "Bearer x" }, { key: "accept", value: "*/*" }];
    logger.error({ checkRequest, headerList });
    const [record] = records();
    expect(record?.checkRequest).toEqual({
      attributes: {
        source: { address: { socket_address: { address: CENSORED, port_value: 5555 } } },
        request: { http: { method: "POST", path: "/login", headers: { "x-real-ip": CENSORED }, body: CENSORED } },
      },
    });
    expect(record?.headerList).toEqual([{ key: "authorization", value: CENSORED }, { key: "accept", value: "*/*" }]);
  });

  it("censors child bindings and never mutates the logged object", () => {
    const { logger, records } = memoryLogger();
    const logged = { token: "t" };
    logger.child({ email: "alice@example.com" }).child({ component: "authz", peer: { ip: "203.0.113.9" } }).info(logged, "x");
    expect(records()[0]).toMatchObject({ email: CENSORED, component: "authz", peer: { ip: CENSORED }, token: CENSORED });
    expect(logged.token).toBe("t");
  });

  it("serialises errors as usual, under err or error", () => {
    const { logger, records } = memoryLogger();
    logger.error({ err: new Error("boom") }, "failed");
    logger.error({ error: new TypeError("bang") }, "failed");
    expect(records()[0]?.err).toMatchObject({ type: "Error", message: "boom", stack: expect.any(String) });
    expect(records()[1]?.error).toMatchObject({ type: "TypeError", message: "bang" });
  });

  it("censors the fields a client library attaches to its errors", () => {
    const { logger, records } = memoryLogger();
    const replyError = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
      command: { name: "auth", args: ["default", "s3cret"] },
    });
    logger.error({ err: replyError }, "redis failed");
    logger.error(replyError, "redis failed");
    for (const record of records()) {
      expect(record.err).toMatchObject({ command: { name: "auth", args: CENSORED } });
    }
  });
});

describe("createLogger, pretty format", () => {
  it("writes a readable line (level, message, fields below) through the same redaction", () => {
    const lines: string[] = [];
    const logger = createLogger({ format: "pretty", destination: { write: (line: string) => void lines.push(line) } });
    logger.info({ grpcPort: 9001, password: "hunter2" }, "palisade ready");
    const text = lines.join("");
    expect(text).toMatch(/INFO.*: palisade ready\n/);
    expect(text).toContain("grpcPort: 9001");
    expect(text).not.toContain("hunter2");
    expect(text).not.toMatch(/^\{/);
    // No colour codes when writing anywhere but a terminal's stdout.
    expect(text).not.toContain("\u001b[");
  });
});

describe("createLogger on stdout (lines gathered into larger writes)", () => {
  async function runFixture(mode: "graceful" | "abrupt") {
    const { spawn } = await import("node:child_process");
    const { repoRoot } = await import("../../test/support/policies.js");
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/logger/batched-stdout.ts", mode], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let beforeStillRunning: string | undefined;
    child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString()));
    child.stderr.on("data", () => void (beforeStillRunning ??= stdout));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    const numbers = stdout.trim().split("\n").map((line) => (JSON.parse(line) as { n: number }).n);
    return { code, beforeStillRunning, numbers };
  }
  const all = Array.from({ length: 100 }, (_, n) => n);

  it("writes a lone line within the flush period, and every line in order when exiting through exitWhenLogged", async () => {
    const { code, beforeStillRunning, numbers } = await runFixture("graceful");
    expect(code).toBe(0);
    // The first line arrived while the process was still running (periodic flush, 250 ms < 1.5 s).
    expect(beforeStillRunning).toContain('"msg":"first"');
    expect(numbers).toEqual(all);
  }, 60_000);

  it("loses no line on a bare process.exit (a batch already being written may land after the rest)", async () => {
    const { numbers } = await runFixture("abrupt");
    expect([...numbers].sort((a, b) => a - b)).toEqual(all);
  }, 60_000);
});
