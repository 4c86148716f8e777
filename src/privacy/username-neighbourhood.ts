import type { Pseudonymiser } from "./pseudonymiser.js";

/**
 * Longer names get no neighbourhood: few type such a name by hand, and it bounds a login's store
 * work. Two neighbourhoods then fit Redis' compact sorted set (at most 128 entries, one more
 * while an add trims).
 */
export const NEIGHBOURHOOD_MAX_LENGTH = 62;
/** Characters kept of each keyed hash: 48 bits, collision-free among the few dozen of one session. */
const NEIGHBOUR_DIGEST_LENGTH = 8;

/**
 * The one-character neighbourhood of a canonical username (SymSpell's): the name itself and
 * each name one character shorter, as truncated keyed hashes, each once. Two names one typo apart
 * (a character dropped, added, replaced, or two neighbours swapped) share one of them, and so do
 * names one character out and another in elsewhere (`ann` and `nna`), but no others. Hashes of
 * their own kind, never a username's pseudonym, so none can be looked up as an account; not
 * remembered by the pseudonymiser, since no other Check asks for them. Undefined for a name
 * longer than NEIGHBOURHOOD_MAX_LENGTH.
 */
export function usernameNeighbourhood(username: string, pseudonymiser: Pseudonymiser): string[] | undefined {
  const characters = [...username];
  if (characters.length > NEIGHBOURHOOD_MAX_LENGTH) return undefined;
  const names = new Set([username]);
  for (let i = 0; i < characters.length; i++) names.add(characters.slice(0, i).join("") + characters.slice(i + 1).join(""));
  return [...names].map((name) => pseudonymiser.pseudonymiseOnce("neighbour", name).slice(0, NEIGHBOUR_DIGEST_LENGTH));
}
