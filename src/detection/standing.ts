import type { CompiledPolicy } from "../policy/compile.js";
import type { ParsedAddress } from "../domain/client-address.js";
import type { NormalisedRequest } from "../domain/request.js";
import { classifyBot } from "./bots.js";
import { listsContaining, type FeedLookup } from "../policy/cidr-lists.js";
import type { Signal } from "./signal.js";

/** A decision taken before any counting: a deny-list, an allow-list, or an allowed bot. */
export interface Standing {
  effect: "block" | "allow";
  rule: string;
}

/**
 * Who the client is before what it does: its reputation lists and whether it is an allowed
 * bot. Clients with a standing verdict are decided without touching the store, so a deny-listed
 * flood costs no round trip. Impersonators of allowed bots only get a signal.
 */
export function standingOf(request: NormalisedRequest, address: ParsedAddress | undefined, policy: CompiledPolicy, feeds?: FeedLookup) {
  const memberships = listsContaining(policy.lists, address, feeds);
  const signals: Signal[] = memberships.map((m) => ({
    code: m.effect === "block" ? "ip.denylisted" : m.effect === "allow" ? "ip.allowlisted" : `ip.list.${m.name}`,
    value: 1,
    weight: m.effect === "block" ? 100 : m.weight,
    fired: true,
    detail: m.name,
  }));
  const listed = memberships.find((m) => m.effect === "block") ?? memberships.find((m) => m.effect === "allow");
  let standing: Standing | undefined = listed && { effect: listed.effect === "block" ? "block" : "allow", rule: `list:${listed.name}` };
  const bot = classifyBot(request, address, policy, feeds);
  if (bot?.kind === "impersonation") signals.push(bot.signal);
  if (bot?.kind === "allowed" && standing?.effect !== "block") {
    signals.push({ code: "bot.allowed", value: 1, weight: 0, fired: true, detail: bot.bot.category });
    standing = { effect: "allow", rule: `bot:${bot.bot.name}` };
  }
  return { standing, signals };
}
