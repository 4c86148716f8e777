import { describe, expect, it, vi } from "vitest";
import { examplePolicy } from "../../test/support/policies.js";
import { MemoryStore } from "../state/memory-store.js";
import { createDetectionState } from "./pipeline.js";
import { keepUp } from "./signals.js";

const T0 = Date.UTC(2026, 11, 8, 9);

describe("the keeper's store work while no Check asks", () => {
  it("merges the site-wide enumeration counts of a replica that only hears the access log", async () => {
    const store = new MemoryStore();
    const detection = createDetectionState(store);
    detection.enumeration.recordExistingAccount("signup", "known@example.com");
    const apply = vi.spyOn(store, "apply");
    await keepUp(detection, examplePolicy(), T0 + 5_000);
    expect(apply.mock.calls.filter(([entity]) => entity.startsWith("site:enum:signup:"))).toHaveLength(1);
  });
});
