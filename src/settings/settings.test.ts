import { describe, expect, it } from "vitest";
import { DEFAULT_HELPER_THREAD_NICENESS, helperThreadNiceness, redactedSettings, resolveSettings } from "./settings.js";

const resolve = (env: NodeJS.ProcessEnv) => resolveSettings({}, env, { policy: "policy.yaml" });

describe("webhook settings", () => {
  it("read a comma-separated list from the environment and default to none", () => {
    expect(resolve({}).webhookUrls).toEqual([]);
    expect(resolve({ PALISADE_WEBHOOK_URLS: " https://soar.example/hooks , http://127.0.0.1:8080/x " }).webhookUrls).toEqual([
      "https://soar.example/hooks",
      "http://127.0.0.1:8080/x",
    ]);
    expect(resolve({ PALISADE_WEBHOOK_SECRET_FILE: "/secrets/webhook" }).webhookSecretFile).toBe("/secrets/webhook");
  });

  it("reject what is not an http(s) URL", () => {
    expect(() => resolve({ PALISADE_WEBHOOK_URLS: "ftp://files.example/x" })).toThrow(/webhookUrls/);
    expect(() => resolve({ PALISADE_WEBHOOK_URLS: "not a url" })).toThrow(/webhookUrls/);
  });

  it("are logged without the credentials a URL may carry", () => {
    const settings = resolve({ PALISADE_WEBHOOK_URLS: "https://user:s3cret@soar.example/hooks" });
    expect(redactedSettings(settings).webhookUrls).toEqual(["https://***@soar.example/hooks"]);
  });
});

describe("helper threads' niceness", () => {
  const redis = { REDIS_URL: "redis://127.0.0.1:6379" };

  it("lowers a lone process's helpers by default and leaves a pod of workers' at the main thread's priority", () => {
    expect(helperThreadNiceness(resolve({}))).toBe(DEFAULT_HELPER_THREAD_NICENESS);
    expect(DEFAULT_HELPER_THREAD_NICENESS).toBeGreaterThan(0);
    expect(helperThreadNiceness(resolve({ ...redis, PALISADE_WORKERS: "2" }))).toBe(0);
    expect(helperThreadNiceness(resolve({ ...redis, PALISADE_WORKERS: "8" }))).toBe(0);
  });

  it("takes the value set, with workers too", () => {
    expect(helperThreadNiceness(resolve({ PALISADE_HELPER_THREAD_NICENESS: "0" }))).toBe(0);
    expect(helperThreadNiceness(resolve({ ...redis, PALISADE_WORKERS: "2", PALISADE_HELPER_THREAD_NICENESS: "5" }))).toBe(5);
  });
});
