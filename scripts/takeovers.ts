/**
 * Why each account taken over at one sweep point got in: `npx tsx scripts/takeovers.ts <family>
 * <point label> [--replicas N] [seed…]`, from examples/lab/sweep.yaml with the example policy,
 * seeds 1 and 2 by default. Lists every attack login the application accepted without a
 * step-up (what the lab counts as taken over), with the login it followed from, and the
 * reasons and rule each was decided with. When the login carried a cookie jar someone else used
 * before (a stolen one), also where that jar was last used from: the other holder's last request
 * and last request to the same path, so a replay can be set beside its owner's own use.
 */
import { loadPolicy } from "../src/policy/loader.js";
import type { CheckEvent } from "../src/lab/replay/events.js";
import { offlineTarget } from "../src/lab/replay/offline.js";
import type { ReplayTarget, Verdict } from "../src/lab/replay/target.js";
import { fromStruct } from "../src/transport/grpc/protos.js";
import { runPoint } from "../src/lab/sweep/run.js";
import { loadSweepPoint } from "../src/lab/sweep/sweep-file.js";

const args = process.argv.slice(2);
const replicasAt = args.indexOf("--replicas");
const replicas = replicasAt >= 0 ? Number(args.splice(replicasAt, 2)[1]) : 1;
const [family, label, ...seedArgs] = args;
if (!family || !label) throw new Error("usage: takeovers.ts <family> <point label> [--replicas N] [seed…]");
const policy = "examples/policy.yaml";
const point = await loadSweepPoint("examples/lab/sweep.yaml", family, label);
const compiled = await loadPolicy(policy);
const logins = new Set(compiled.endpoints.filter((e) => e.authentication).map((e) => e.name));

interface Decided { event: CheckEvent; verdict: Verdict }
/** A request that carried a cookie jar: where from, when, and to what. */
interface JarUse { timeMs: number; address: string; label: string; method: string; path: string }

/** The reason codes Palisade put in the decision's metadata. */
function reasonsOf(verdict: Verdict): string[] {
  const reasons = fromStruct(verdict.metadata).reasons;
  return Array.isArray(reasons) ? reasons.filter((r): r is string => typeof r === "string") : [];
}
let firstAttackMs = 0;

function describe({ event, verdict }: Decided, status: number | undefined): string {
  const http = event.request.attributes?.request?.http;
  const address = http?.headers?.["x-forwarded-for"] ?? "";
  const cookie = http?.headers?.cookie ? "cookie" : "no cookie";
  const seconds = ((event.timeMs - firstAttackMs) / 1000).toFixed(1);
  const answer = `${verdict.action}${verdict.rule ? ` (${verdict.rule})` : ""}`;
  return `${seconds} s ${event.label} ${http?.method} ${http?.path} from ${address}, ${cookie}: ${answer}, app ${status ?? "-"}; ${reasonsOf(verdict).join(" ") || "no reasons"}`;
}

/** The jar's latest use by another label (its owner) before `login`, and its latest one to the same path. */
function ownerUses(login: CheckEvent, uses: readonly JarUse[]): string[] {
  const path = login.request.attributes?.request?.http?.path;
  const before = uses.filter((use) => use.timeMs < login.timeMs && use.label !== login.label);
  const last = before.at(-1);
  const lastToPath = before.filter((use) => use.path === path).at(-1);
  const show = (what: string, use: JarUse) =>
    `${what} ${((login.timeMs - use.timeMs) / 1000).toFixed(1)} s before: ${use.label} ${use.method} ${use.path} from ${use.address}`;
  return [...(lastToPath ? [show("its owner's last use of the path", lastToPath)] : []), ...(last ? [show("its owner's last request", last)] : [])];
}

for (const seed of seedArgs.length > 0 ? seedArgs.map(Number) : [1, 2]) {
  const decided = new Map<string, Decided>();
  const statuses = new Map<string, number>();
  const takenOver: string[] = [];
  const jarUses = new Map<string, JarUse[]>();
  const campaignCalled: Record<string, number> = {};
  firstAttackMs = 0;
  const target = async (): Promise<ReplayTarget> => {
    const inner = await offlineTarget(policy, { replicas });
    return {
      ...inner,
      check: (request, timeMs) => inner.check(request, timeMs),
      async log(entry) {
        const id = entry.request?.request_id ?? "";
        const status = Number(entry.response?.response_code?.value) || undefined;
        if (status !== undefined) statuses.set(id, status);
        const found = decided.get(id);
        if (found && !found.verdict.denied && found.verdict.action !== "step_up" && status !== undefined && status >= 200 && status < 300 &&
          found.verdict.endpoint !== undefined && logins.has(found.verdict.endpoint)) takenOver.push(id);
        await inner.log(entry);
      },
    };
  };
  const decidedTarget = await target();
  await runPoint(point, seed, {
    policy,
    compiled,
    target: () => decidedTarget,
    onDecided: (event, [verdict]) => {
      const http = event.request.attributes?.request?.http;
      if (http?.headers?.cookie) {
        const uses = jarUses.get(http.headers.cookie) ?? [];
        uses.push({ timeMs: event.timeMs, address: http.headers["x-forwarded-for"] ?? "", label: event.label, method: http.method ?? "", path: http.path ?? "" });
        jarUses.set(http.headers.cookie, uses);
      }
      if (!event.label.startsWith("attack:")) return;
      const id = http?.id;
      if (id) decided.set(id, { event, verdict: verdict! });
      if (firstAttackMs === 0) firstAttackMs = event.timeMs;
      for (const reason of reasonsOf(verdict!)) if (reason.startsWith("site.")) campaignCalled[reason] ??= (event.timeMs - firstAttackMs) / 1000;
    },
  });
  console.log(`\n## seed ${seed}: ${takenOver.length} attack logins let in without a step-up`);
  console.log(`site reasons first seen on an attack request (s after its first): ${JSON.stringify(campaignCalled)}`);
  for (const id of takenOver) {
    const login = decided.get(id)!;
    const cause = login.event.causedBy ? decided.get(login.event.causedBy) : undefined;
    console.log(`- ${describe(login, statuses.get(id))}`);
    if (cause) console.log(`  after ${describe(cause, statuses.get(login.event.causedBy!))}`);
    const cookie = login.event.request.attributes?.request?.http?.headers?.cookie;
    for (const line of cookie ? ownerUses(login.event, jarUses.get(cookie) ?? []) : []) console.log(`  ${line}`);
  }
}
