import type { Redis } from "ioredis";

/** Calls per command from INFO commandstats (cmdstat_evalsha:calls=…). */
export async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const line of (await redis.info("commandstats")).split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) stats.set(match[1]!, Number(match[2]));
  }
  return stats;
}

/**
 * Commands per Check between two snapshots. Script calls (EVAL/EVALSHA) are what the client
 * sends; the commands they run inside Redis are counted too, separately.
 */
export function diffStats(before: Map<string, number>, after: Map<string, number>, checks: number) {
  const perCheck: Record<string, number> = {};
  for (const [command, calls] of after) {
    const delta = calls - (before.get(command) ?? 0);
    if (delta > 0 && command !== "info") perCheck[command] = Math.round((delta / checks) * 1000) / 1000;
  }
  const scripts = (perCheck.evalsha ?? 0) + (perCheck.eval ?? 0);
  return { checks, scriptCallsPerCheck: Math.round(scripts * 1000) / 1000, commandsPerCheck: perCheck };
}
