import type { NormalisedRequest } from "../domain/request.js";
import { MAX_SESSION_ACCOUNTS_THRESHOLD } from "../policy/schema.js";
import type { CompiledSignals } from "../policy/signals.js";
import { browserSessionKey } from "./entities.js";
import { NO_PLAN, type SignalPlan } from "./signal.js";

/** Store name of the account pseudonyms a browser session tried, under its `ck:` entity. */
export const SESSION_ACCOUNTS_NAME = "sa.users";
/** Accounts remembered per session: one more than the policy's largest threshold, so every threshold it allows can be exceeded. */
const MAX_ACCOUNTS = MAX_SESSION_ACCOUNTS_THRESHOLD + 1;

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
 */
export function planSessionAccounts(request: NormalisedRequest, signals: CompiledSignals): SignalPlan {
  const config = signals.cohorts;
  const limit = config?.sessionAccounts;
  if (!limit || !request.usernameId) return NO_PLAN;
  const session = browserSessionKey(request, config.sessionCookies);
  if (session === undefined) return NO_PLAN;
  const windowMs = config.windowMs;
  const op = { op: "member.add", name: SESSION_ACCOUNTS_NAME, member: request.usernameId, maxMembers: MAX_ACCOUNTS, retentionMs: windowMs, maxAgeMs: windowMs } as const;
  return {
    ops: [{ entity: `ck:${session}`, op }],
    evaluate(results) {
      const accounts = results[0] ?? 0;
      const detail = `accounts this browser session tried to sign in to within ${windowMs / 60_000} min`;
      return [{ code: "session.distinct_usernames", value: accounts, threshold: limit.threshold, weight: limit.weight, fired: accounts > limit.threshold, detail }];
    },
  };
}
