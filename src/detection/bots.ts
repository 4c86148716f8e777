import { botFeedKey, type AllowedBot, type CompiledPolicy } from "../policy/compile.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { ParsedAddress } from "../domain/client-address.js";
import { rangesContain, type FeedLookup } from "../policy/cidr-lists.js";
import type { Signal } from "./signal.js";

export type BotVerdict = { kind: "allowed"; bot: AllowedBot } | { kind: "impersonation"; bot: AllowedBot; signal: Signal };

/**
 * Operator-allowed automation (search engines, partners, monitors): the user agent says which
 * bot it is and the address proves it. A bot's user agent from any other address is an
 * impersonator, which is worse than an honest script.
 */
export function classifyBot(request: NormalisedRequest, address: ParsedAddress | undefined, policy: CompiledPolicy, feeds?: FeedLookup): BotVerdict | undefined {
  const userAgent = request.headers.get("user-agent");
  if (!userAgent) return undefined;
  const bot = policy.bots.allowed.find((candidate) => candidate.userAgent.test(userAgent));
  if (!bot) return undefined;
  const verified = address && (rangesContain(bot.ranges, address) || (bot.feeds.length > 0 && feeds?.has(botFeedKey(bot.name), address)));
  if (verified) return { kind: "allowed", bot };
  return {
    kind: "impersonation",
    bot,
    signal: { code: "bot.impersonation", value: 1, weight: policy.bots.impersonationWeight, fired: true, detail: `claims to be ${bot.name}` },
  };
}
