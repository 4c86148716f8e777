import { describe, expect, it } from "vitest";
import { redactedSettings, resolveSettings } from "./settings.js";

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
