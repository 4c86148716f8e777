import { describe, expect, it } from "vitest";
import { browserFriction } from "../../src/lab/replay/friction.js";
import { examplePolicyPath } from "../support/policies.js";
import { sharedDataDir, sharedDataMissing } from "../support/shared-data.js";

describe.skipIf(sharedDataMissing("apache_logs.gz"))("friction on a real blog's log", () => {
  it("judges every line of the log and counts the browsers among them", async () => {
    const friction = await browserFriction(sharedDataDir("apache_logs.gz")!, examplePolicyPath);
    // Every line is judged: a replay that saw nothing would report 0% friction, and be wrong.
    expect(friction.requests).toBe(10_000);
    expect(friction.browserRequests).toBeGreaterThan(5_000);
    expect(friction.browserDenied / friction.browserRequests).toBeLessThanOrEqual(0.005);
  }, 120_000);
});
