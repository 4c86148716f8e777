/**
 * What an object literal costs on this Node when it copies another object by a spread and then
 * sets keys of its own, against one literal naming every key and against a literal completed by
 * Object.assign (the decisions the pipeline builds on every Check, src/pipeline/pipeline.ts):
 *
 *   npx tsx bench/spread-cost.ts [objects=1000000] [rounds=3]
 *
 * Prints, per round, CPU ns per object built (process.cpuUsage) for each form over a held
 * decision's eight keys and the six the pipeline stamps on it.
 */
const objects = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 3);

const held = (i: number) => ({ action: "quarantine", risk: 100, reasons: [], rule: "r", scope: "ip", retryAfterSeconds: i & 7, degraded: false, shadowed: [] });

const forms: Record<string, (i: number) => object> = {
  "spread alone": (i) => ({ ...held(i) }),
  "spread, then one key": (i) => ({ ...held(i), eventTimeMs: i }),
  "spread, then six keys": (i) => ({ ...held(i), decisionId: "d", policyVersion: "v", endpoint: "e", subject: "s", eventTimeMs: i, attribution: undefined }),
  "one literal of the eight, then Object.assign of the six": (i) => {
    const h = held(i);
    const decision = { action: h.action, risk: h.risk, reasons: h.reasons, rule: h.rule, scope: h.scope, retryAfterSeconds: h.retryAfterSeconds, degraded: h.degraded, shadowed: h.shadowed };
    return Object.assign(decision, { decisionId: "d", policyVersion: "v", endpoint: "e", subject: "s", eventTimeMs: i, attribution: undefined });
  },
  "one literal of all fourteen keys": (i) => {
    const h = held(i);
    return {
      action: h.action,
      risk: h.risk,
      reasons: h.reasons,
      rule: h.rule,
      scope: h.scope,
      retryAfterSeconds: h.retryAfterSeconds,
      degraded: h.degraded,
      shadowed: h.shadowed,
      decisionId: "d",
      policyVersion: "v",
      endpoint: "e",
      subject: "s",
      eventTimeMs: i,
      attribution: undefined,
    };
  },
};

/** The last objects built, kept so that none can be optimised away. */
const kept: object[] = new Array<object>(1024);
for (let round = 0; round < rounds; round++) {
  for (const [form, build] of Object.entries(forms)) {
    const before = process.cpuUsage();
    for (let i = 0; i < objects; i++) kept[i & 1023] = build(i);
    const used = process.cpuUsage(before);
    process.stdout.write(`${JSON.stringify({ round, form, cpuNsPerObject: Math.round(((used.user + used.system) * 1000) / objects) })}\n`);
  }
}
