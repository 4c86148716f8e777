/**
 * A remembered set as the memory store keeps it, with the semantics of the Redis sorted set the
 * Redis store uses: each member is scored by the (event) time it was last added (ZADD), and
 * trimming keeps the highest ranks (ZREMRANGEBYRANK 0 -(max+1)), where ranks order by score and
 * then by the member's bytes, as Redis does for equal scores.
 */
export class MemberSet {
  readonly #scores = new Map<string, number>();
  #memberBytes = 0;

  get size(): number {
    return this.#scores.size;
  }

  has(member: string): boolean {
    return this.#scores.has(member);
  }

  /** Like ZADD: a member added again is rescored with the new time. */
  add(member: string, score: number): void {
    if (!this.#scores.has(member)) this.#memberBytes += memberBytes(member);
    this.#scores.set(member, score);
  }

  /** Like ZREMRANGEBYRANK key 0 -(max+1): drops the lowest-ranked members beyond `maxMembers`. */
  trimToNewest(maxMembers: number): void {
    const excess = this.#scores.size - maxMembers;
    if (excess <= 0) return;
    // The usual case is one member over after an add: a linear scan, not a sort of the set.
    const oldest = excess === 1 ? [this.#lowestRanked()] : [...this.#scores].sort(byRank).slice(0, excess);
    for (const [member] of oldest) this.#delete(member);
  }

  /** Like ZREMRANGEBYSCORE with an exclusive bound: drops the members scored before `oldestKept`. */
  dropScoredBefore(oldestKept: number): void {
    for (const [member, score] of this.#scores) if (score < oldestKept) this.#delete(member);
  }

  /** An upper estimate of the heap this set holds, for the memory store's byte bound. */
  get approximateBytes(): number {
    return SET_OVERHEAD_BYTES + this.#memberBytes;
  }

  #lowestRanked(): [string, number] {
    let lowest: [string, number] | undefined;
    for (const entry of this.#scores) if (lowest === undefined || byRank(entry, lowest) < 0) lowest = entry;
    return lowest!;
  }

  #delete(member: string): void {
    if (this.#scores.delete(member)) this.#memberBytes -= memberBytes(member);
  }
}

/** Heap bytes of an empty set (object and Map). */
const SET_OVERHEAD_BYTES = 200;
/**
 * Measured: 223 bytes of heap per 32-character member, 420 per 256-character one (Map entry,
 * string, the score as a heap number). 160 + 2 per character covers both, and two-byte strings.
 */
const MEMBER_OVERHEAD_BYTES = 160;

function memberBytes(member: string): number {
  return MEMBER_OVERHEAD_BYTES + 2 * member.length;
}

/** Redis' sorted-set order: by score, then by the members' UTF-8 bytes (memcmp). */
function byRank([memberA, scoreA]: [string, number], [memberB, scoreB]: [string, number]): number {
  return scoreA - scoreB || Buffer.compare(Buffer.from(memberA, "utf8"), Buffer.from(memberB, "utf8"));
}

/**
 * The member as Redis stores it. Redis receives members as UTF-8, where every lone UTF-16
 * surrogate becomes U+FFFD, so two strings differing only there are one member in Redis; the
 * memory store must see them as one member too.
 */
export function asRedisMember(member: string): string {
  return member.replace(/[\uD800-\uDFFF]/gu, "\uFFFD");
}
