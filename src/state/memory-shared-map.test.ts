import { describe, expect, it } from "vitest";
import { MemoryAuditLog } from "./memory-audit-log.js";
import { MemorySharedMap, type IdempotencyMemory } from "./memory-shared-map.js";
import { IDEMPOTENCY_TTL_MS, IdempotencyConflictError } from "./shared-map.js";

const retention = { maxEntries: 1_000, maxAgeMs: 10 * IDEMPOTENCY_TTL_MS };
const audited = (idempotencyKey: string, fingerprint = "f") => ({ idempotencyKey, idempotencyTtlMs: IDEMPOTENCY_TTL_MS, fingerprint, record: { what: idempotencyKey }, retention });

function setUp() {
  let now = 1_000_000;
  const clock = () => now;
  const idempotency: IdempotencyMemory = new Map();
  const map = new MemorySharedMap({ clock, audit: new MemoryAuditLog({ clock }), idempotency });
  return { map, idempotency, set: (ms: number) => void (now = ms), now: () => now };
}

describe("MemorySharedMap idempotency answers", () => {
  it("forgets expired answers oldest first, however many are kept", async () => {
    const { map, idempotency, set, now } = setUp();
    const start = now();
    for (let i = 0; i < 50; i++) {
      set(start + i * 1_000);
      await map.putIfAbsent(`k${i}`, "v", 60_000, audited(`op${i}`));
    }
    set(start + IDEMPOTENCY_TTL_MS + 10_500); // the first eleven answers expired
    await map.put("other", "v", 60_000, audited("late"));
    expect(idempotency.size).toBe(50 - 11 + 1);
    expect(idempotency.has("op10")).toBe(false);
    expect(idempotency.has("op11")).toBe(true);
  });

  it("never replays an answer past its expiry, even one written under a later clock than the next", async () => {
    const { map, set } = setUp();
    set(5_000_000);
    await map.put("a", "1", 60_000, audited("first", "one"));
    set(1_000_000); // the clock went back: this answer expires before the one above
    await map.put("b", "2", 60_000, audited("second", "two"));
    set(1_000_000 + IDEMPOTENCY_TTL_MS + 1); // "second" expired, "first" not: the sweep stops at "first"
    // Expired: the same key with another fingerprint is a new write, not a conflict.
    await expect(map.put("b", "3", 60_000, audited("second", "three"))).resolves.toMatchObject({ value: "3" });
    // Still live: a different fingerprint under "first" conflicts, the same one is replayed.
    await expect(map.put("a", "9", 60_000, audited("first", "other"))).rejects.toThrow(IdempotencyConflictError);
    await expect(map.put("a", "9", 60_000, audited("first", "one"))).resolves.toMatchObject({ replayed: true, value: "1" });
  });
});
