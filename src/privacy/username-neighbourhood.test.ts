import { describe, expect, it } from "vitest";
import { HmacPseudonymiser } from "./pseudonymiser.js";
import { NEIGHBOURHOOD_MAX_LENGTH, usernameNeighbourhood } from "./username-neighbourhood.js";

const pseudonymiser = new HmacPseudonymiser({ current: Buffer.alloc(32, 9) });
const near = (a: string, b: string) => {
  const first = new Set(usernameNeighbourhood(a, pseudonymiser));
  return usernameNeighbourhood(b, pseudonymiser)!.some((hash) => first.has(hash));
};

describe("usernameNeighbourhood", () => {
  it("meets the neighbourhood of a name one typo away, dropped, added, replaced or swapped, and not two", () => {
    // The looser match of shared deletions: one character out of the name and one in elsewhere.
    expect(near("ann@example.com", "nn@example.coma")).toBe(true);
    for (const typed of ["ann@example.co", "ann@exmple.com", "anna@example.com", "ann@example.cmo", "amn@example.com", "ann@exampel.com"]) expect(near("ann@example.com", typed)).toBe(true);
    for (const other of ["ben@example.com", "ann@example.org", "nan@example.con", "ann@elpmaxe.com"]) expect(near("ann@example.com", other)).toBe(false);
  });

  it("is the name and its shorter names once each, as short keyed hashes that change with the key", () => {
    const hashes = usernameNeighbourhood("aab", pseudonymiser)!; // aab, ab (twice), aa
    expect(hashes).toHaveLength(3);
    expect(hashes.every((hash) => /^[A-Za-z0-9_-]{8}$/.test(hash))).toBe(true);
    expect(hashes).not.toContain(pseudonymiser.pseudonymise("username", "aab").slice(0, 8));
    expect(usernameNeighbourhood("aab", new HmacPseudonymiser({ current: Buffer.alloc(32, 8) }))).not.toEqual(hashes);
  });

  it("leaves a name longer than anyone types out", () => {
    expect(usernameNeighbourhood("a".repeat(NEIGHBOURHOOD_MAX_LENGTH), pseudonymiser)).toHaveLength(2);
    expect(usernameNeighbourhood("a".repeat(NEIGHBOURHOOD_MAX_LENGTH + 1), pseudonymiser)).toBeUndefined();
  });
});
