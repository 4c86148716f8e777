import type { BaselineObservation, EntityOp } from "./store.js";

/**
 * Checks one store call before anything is written, so that a bad op rejects the whole call
 * (never half of it) and every store rejects exactly the same input with the same TypeError.
 * Amounts must be non-negative integers because Redis INCRBY counts in integers; a fractional
 * amount in memory would make the two stores disagree.
 */
export function assertValidApply(entity: string, ops: readonly EntityOp[], nowMs: number): void {
  assertValidEntity(entity);
  assertValidTime(nowMs);
  for (const op of ops) assertValidOp(op);
  assertTakesNotMixed(ops);
}

export function assertValidBaseline(entity: string, name: string, observation: BaselineObservation): void {
  assertValidEntity(entity);
  assertName("baseline", name);
  const { period, value, alpha, retentionMs } = observation;
  if (!Number.isSafeInteger(period) || period < 0) {
    throw new TypeError(`baseline period must be a non-negative integer, got ${String(period)} (${name})`);
  }
  if (!Number.isFinite(value)) throw new TypeError(`baseline value must be a finite number, got ${String(value)} (${name})`);
  if (!(alpha > 0 && alpha <= 1)) throw new TypeError(`baseline alpha must be in (0, 1], got ${String(alpha)} (${name})`);
  assertPositiveInteger("baseline retentionMs", retentionMs, name);
}

/** Longest accepted op name: names come from code and policy, not from requests. */
export const MAX_OP_NAME_LENGTH = 128;

/** Longest accepted member: members are pseudonyms, subnets and the like, never raw payloads. */
export const MAX_MEMBER_LENGTH = 256;

function assertValidEntity(entity: string): void {
  // A brace inside the entity would move or split the `{…}` hash tag, so one entity's keys could
  // land in several Cluster slots or collide with another entity's keys.
  if (typeof entity !== "string" || entity.length === 0 || /[{}]/.test(entity)) {
    throw new TypeError(`entity must be a non-empty string without "{" or "}", got ${JSON.stringify(entity)}`);
  }
}

function assertValidTime(nowMs: number): void {
  // Beyond the safe-integer range bucket numbers lose precision and neighbouring buckets merge.
  if (!Number.isFinite(nowMs) || nowMs < 0 || nowMs > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`nowMs must be an epoch time in milliseconds between 0 and 2^53, got ${String(nowMs)}`);
  }
}

function assertValidOp(op: EntityOp): void {
  assertName(op.op, op.name);
  switch (op.op) {
    case "window.add":
      assertPositiveInteger("window.add windowMs", op.windowMs, op.name);
      assertAmount("window.add amount", op.amount, op.name);
      return;
    case "window.take":
      assertPositiveInteger("window.take windowMs", op.windowMs, op.name);
      assertAmount("window.take amount", op.amount, op.name);
      assertAmount("window.take limit", op.limit, op.name);
      if (op.algorithm !== "fixed" && op.algorithm !== "sliding") {
        throw new TypeError(`window.take algorithm must be "fixed" or "sliding", got ${JSON.stringify(op.algorithm)} (${op.name})`);
      }
      return;
    case "distinct.add":
      assertPositiveInteger("distinct.add windowMs", op.windowMs, op.name);
      if (op.member !== undefined) assertMember("distinct.add", op.member, op.name);
      return;
    case "member.check":
      assertMember("member.check", op.member, op.name);
      return;
    case "member.add":
      assertMember("member.add", op.member, op.name);
      assertPositiveInteger("member.add maxMembers", op.maxMembers, op.name);
      assertPositiveInteger("member.add retentionMs", op.retentionMs, op.name);
      return;
    default: {
      const unknown: never = op;
      throw new TypeError(`unknown store op ${JSON.stringify((unknown as { op: unknown }).op)}`);
    }
  }
}

/**
 * Takes commit together at the end of a call; an add or read after one would not see it. Rather
 * than define what such a mix means, it is refused.
 */
function assertTakesNotMixed(ops: readonly EntityOp[]): void {
  const takes = ops.filter((op) => op.op === "window.take").length;
  if (takes > 0 && takes < ops.length) {
    throw new TypeError("window.take ops cannot share an apply() call with other ops");
  }
}

function assertName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_OP_NAME_LENGTH) {
    throw new TypeError(`${what} name must be a string of 1 to ${MAX_OP_NAME_LENGTH} characters, got ${JSON.stringify(name)}`);
  }
}

function assertMember(what: string, member: string, name: string): void {
  if (typeof member !== "string" || member.length === 0 || member.length > MAX_MEMBER_LENGTH) {
    throw new TypeError(`${what} member must be a string of 1 to ${MAX_MEMBER_LENGTH} characters (${name})`);
  }
}

function assertPositiveInteger(what: string, value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${what} must be a positive integer, got ${String(value)} (${name})`);
}

function assertAmount(what: string, value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${what} must be a non-negative integer, got ${String(value)} (${name})`);
  }
}
