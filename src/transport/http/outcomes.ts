import { z } from "zod";
import type { AttemptContext, LoginOutcomeRecorder } from "../../detection/login-outcomes.js";
import { parseAddress, subnetOf } from "../../domain/client-address.js";
import { canonicalUsername } from "../../pipeline/normalise.js";
import type { CompiledPolicy } from "../../policy/compile.js";
import type { Pseudonymiser } from "../../privacy/pseudonymiser.js";
import type { TokenAuthenticator } from "./auth.js";
import { problem } from "./problem.js";
import type { AdminServer } from "./admin.js";

const outcomeReport = z
  .object({
    endpoint: z.string().min(1),
    outcome: z.enum(["success", "failure", "unknown_user"]),
    username: z.string().min(1).max(1024).optional(),
    ip: z.string().min(1).max(64).optional(),
    time: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/**
 * The application reports that a user or session passed a challenge or MFA (DESIGN.md: a
 * passed challenge lowers friction for a while). Either identifier is pseudonymised at once.
 */
const reliefReport = z
  .object({
    outcome: z.enum(["challenge_passed", "mfa_passed"]),
    username: z.string().min(1).max(1024).optional(),
    session: z.string().min(1).max(4096).optional(),
    time: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((r) => r.username !== undefined || r.session !== undefined, { message: "give the username or session that passed" });

export type ReliefRecorder = (kind: "challenge" | "mfa", subjects: { username?: string; session?: string }, timeMs: number) => Promise<void>;

export interface OutcomeEndpointDependencies {
  admin: AdminServer;
  auth: TokenAuthenticator;
  recorder: LoginOutcomeRecorder;
  policy: () => CompiledPolicy;
  pseudonymiser: Pseudonymiser;
  clock: { now(): number };
  /** Where passed challenges and MFA go (the response engine); absent, they are refused. */
  relief?: ReliefRecorder;
}

/**
 * POST /v1/outcomes: an identity provider reports a login outcome directly, for deployments
 * without Envoy's access-log service. The username and IP it sends are pseudonymised at once,
 * exactly as in a Check, so they land on the same counters.
 */
export function registerOutcomeEndpoint(deps: OutcomeEndpointDependencies): void {
  deps.admin.route(
    "POST",
    "/v1/outcomes",
    deps.auth.require(["reporter", "admin"], async (request) => {
      let body: unknown;
      try {
        body = JSON.parse(request.body.toString("utf8"));
      } catch {
        return problem(400, "the body must be JSON");
      }
      if (isReliefOutcome(body)) return recordRelief(body, deps);
      const parsed = outcomeReport.safeParse(body);
      if (!parsed.success) return problem(400, issuesText(parsed.error.issues));
      const policy = deps.policy();
      const endpoint = policy.endpoints.find((e) => e.name === parsed.data.endpoint && e.authentication);
      if (!endpoint) return problem(422, `no authentication endpoint named "${parsed.data.endpoint}" in policy ${policy.version}`);
      await deps.recorder.apply(parsed.data.outcome, contextOf(parsed.data, policy, deps), policy);
      return { status: 202, body: { accepted: true } };
    }),
  );
}

function isReliefOutcome(body: unknown): boolean {
  const outcome = (body as { outcome?: unknown } | null)?.outcome;
  return outcome === "challenge_passed" || outcome === "mfa_passed";
}

async function recordRelief(body: unknown, deps: OutcomeEndpointDependencies) {
  const parsed = reliefReport.safeParse(body);
  if (!parsed.success) return problem(400, issuesText(parsed.error.issues));
  if (!deps.relief) return problem(422, "friction relief is not enabled on this service");
  const { outcome, session, time } = parsed.data;
  const username = canonicalUsername(parsed.data.username);
  await deps.relief(
    outcome === "mfa_passed" ? "mfa" : "challenge",
    {
      username: username && deps.pseudonymiser.pseudonymise("username", username),
      session: session && deps.pseudonymiser.pseudonymise("session", session),
    },
    time ? Date.parse(time) : deps.clock.now(),
  );
  return { status: 202, body: { accepted: true } };
}

function issuesText(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
}

function contextOf(report: z.infer<typeof outcomeReport>, policy: CompiledPolicy, deps: OutcomeEndpointDependencies): AttemptContext {
  const address = parseAddress(report.ip);
  const username = canonicalUsername(report.username);
  return {
    endpoint: report.endpoint,
    ipId: address && deps.pseudonymiser.pseudonymise("ip", address.ip),
    subnet: address && subnetOf(address, policy.client.subnetPrefixV4, policy.client.subnetPrefixV6),
    usernameId: username ? deps.pseudonymiser.pseudonymise("username", username) : undefined,
    timeMs: report.time ? Date.parse(report.time) : deps.clock.now(),
    allowed: true,
  };
}
