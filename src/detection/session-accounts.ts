import type { NormalisedRequest } from "../domain/request.js";
import { MAX_SESSION_ACCOUNTS_THRESHOLD } from "../policy/schema.js";
import type { CompiledSignals } from "../policy/signals.js";
import { NEIGHBOURHOOD_MAX_LENGTH } from "../privacy/username-neighbourhood.js";
import { browserSessionKey } from "./entities.js";
import { NO_PLAN, type PlannedOp, type Signal, type SignalPlan } from "./signal.js";

/** Store name of the account pseudonyms a browser session tried, under its `ck:` entity. */
export const SESSION_ACCOUNTS_NAME = "sa.users";
/** Store name of the neighbourhood hashes of the names a session tried: one set, shared entries once. */
export const SESSION_NEIGHBOURS_NAME = "sa.near";
/** Store name of the same hashes tagged with their name: the sum of the names' neighbourhood sizes. */
export const SESSION_NEIGHBOURS_PER_NAME = "sa.near.n";
/** Characters of the account's pseudonym that tag its hashes: 36 bits, apart for the two names compared. */
const NAME_TAG_LENGTH = 6;
/** Accounts remembered per session: one more than the policy's largest threshold, so every threshold it allows can be exceeded. */
const MAX_ACCOUNTS = MAX_SESSION_ACCOUNTS_THRESHOLD + 1;
/** Neighbourhood hashes remembered per session: two names' worth, the pair a correction is looked for in. */
const MAX_NEIGHBOURS = 2 * (NEIGHBOURHOOD_MAX_LENGTH + 1);

/**
 * `session.distinct_usernames`: the accounts one browser session (the value of the site's
 * session cookies) tried to sign in to within the cohort window. A person signs in to their own
 * account, mistyping it or not; a bot that keeps its session on each proxy, as a browser does,
 * tries the next entry of its list with the same cookie.
 *
 * A store fact, so that every replica counts the logins Envoy sent to the others: the session's
 * username pseudonyms in one remembered set (at most MAX_ACCOUNTS, each dropped a window after
 * it was last tried, the set a window after the last login), added to and counted by one op in
 * the login's own batch, beside the session's page-view reads of the same entity. No round trip
 * more.
 *
 * A session's two accounts one typo apart are one person correcting the name, counted once, and
 * said (`session.username_corrected`, weightless) so that rules can spare the address's counts
 * too. Raw names are never stored, so the test is on neighbourhoods (usernameNeighbourhood): each
 * login adds its name's hashes to one set and the same hashes tagged with the name to another;
 * two names share a hash exactly when the first set is the smaller. Only between a session's
 * first two accounts: a third is a third whatever it looks like, so a list of near names gains
 * one account per session at most, no more than a fresh cookie gives it.
 */
export function planSessionAccounts(request: NormalisedRequest, signals: CompiledSignals): SignalPlan {
  const config = signals.cohorts;
  const limit = config?.sessionAccounts;
  const username = request.usernameId;
  if (!limit || !username) return NO_PLAN;
  const session = browserSessionKey(request, config.sessionCookies);
  if (session === undefined) return NO_PLAN;
  const windowMs = config.windowMs;
  const entity = `ck:${session}`;
  const kept = { retentionMs: windowMs, maxAgeMs: windowMs } as const;
  const ops: PlannedOp[] = [{ entity, op: { op: "member.add", name: SESSION_ACCOUNTS_NAME, member: username, maxMembers: MAX_ACCOUNTS, ...kept } }];
  const neighbours = request.usernameNeighbourhood ?? [];
  for (const member of neighbours) ops.push({ entity, op: { op: "member.add", name: SESSION_NEIGHBOURS_NAME, member, maxMembers: MAX_NEIGHBOURS, ...kept } });
  const tag = username.slice(0, NAME_TAG_LENGTH);
  for (const member of neighbours) ops.push({ entity, op: { op: "member.add", name: SESSION_NEIGHBOURS_PER_NAME, member: `${tag}${member}`, maxMembers: MAX_NEIGHBOURS, ...kept } });
  return {
    ops,
    evaluate(results) {
      const tried = results[0] ?? 0;
      const shared = results[neighbours.length] ?? 0;
      const perName = results[2 * neighbours.length] ?? 0;
      const corrected = tried === 2 && neighbours.length > 0 && shared < perName;
      const accounts = corrected ? 1 : tried;
      const detail = `accounts this browser session tried to sign in to within ${windowMs / 60_000} min`;
      const counted: Signal = { code: "session.distinct_usernames", value: accounts, threshold: limit.threshold, weight: limit.weight, fired: accounts > limit.threshold, detail };
      if (!corrected) return [counted];
      return [counted, { code: "session.username_corrected", value: 1, weight: 0, fired: true, detail: "the session's two accounts are one typo apart: one person correcting the name" }];
    },
  };
}
