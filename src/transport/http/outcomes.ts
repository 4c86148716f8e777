import type { Clock } from "../../domain/clock.js";
import { z } from "zod";
import { identifiedAttempt, type AttemptContext, type LoginOutcomeRecorder } from "../../detection/login-outcomes.js";
import { parseAddress } from "../../domain/client-address.js";
import { canonicalUsername } from "../../domain/username.js";
import { clientIdentity } from "../../privacy/client-identity.js";
import type { CompiledPolicy } from "../../policy/compile.js";
import type { Pseudonymiser } from "../../privacy/pseudonymiser.js";
import type { AdminServer } from "./admin.js";
import { problem } from "./problem.js";

const outcomeReport = z
  .object({
    endpoint: z.string().min(1),
    /** "created": a registration endpoint's account was created (a bare "success" there teaches nothing). */
    outcome: z.enum(["success", "failure", "unknown_user", "created"]),
    username: z.string().min(1).max(1024).optional(),
    ip: z.string().min(1).max(64).optional(),
    time: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/**
 * The application reports that a user or session passed a challenge or MFA (docs/design.md: a
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

const report = z.discriminatedUnion("outcome", [outcomeReport, reliefReport]);

export type ReliefRecorder = (kind: "challenge" | "mfa", subjects: { username?: string; session?: string }, timeMs: number) => Promise<void>;

export interface OutcomeEndpointDependencies {
  admin: AdminServer;
  recorder: LoginOutcomeRecorder;
  policy: () => CompiledPolicy;
  pseudonymiser: Pseudonymiser;
  clock: Clock;
  /** Where passed challenges and MFA go (the response engine); absent, they are refused. */
  relief?: ReliefRecorder;
}

/**
 * POST /v1/outcomes: an identity provider reports a login's or registration's outcome directly,
 * for deployments without Envoy's access-log service. The username and IP it sends are pseudonymised at once,
 * exactly as in a Check, so they land on the same counters.
 */
export function registerOutcomeEndpoint(deps: OutcomeEndpointDependencies): void {
  deps.admin.route({
    method: "POST",
    url: "/v1/outcomes",
    summary: "Report a login or registration outcome, or a passed challenge or MFA",
    tags: ["reporting"],
    roles: ["reporter", "admin"],
    body: report,
    handler: async ({ body }) => {
      if (!("endpoint" in body)) return recordRelief(body, deps);
      const policy = deps.policy();
      const endpoint = policy.endpoints.find((e) => e.name === body.endpoint && (e.authentication || e.registration));
      if (!endpoint) return problem(422, `no authentication or registration endpoint named "${body.endpoint}" in policy ${policy.version}`);
      const context = contextOf(body, policy, deps);
      // A registration says whether it taught: an identity provider reporting a bare "success"
      // (not "created") teaches nothing, and should be told so rather than left to wonder.
      if (endpoint.registration) return { status: 202, body: { accepted: true, taught: (await deps.recorder.applySignUp(body.outcome, context, policy)) === "created" } };
      if (body.outcome === "created") return problem(422, `"created" reports a registration; "${body.endpoint}" is an authentication endpoint`);
      await deps.recorder.apply(body.outcome, context, policy);
      return { status: 202, body: { accepted: true } };
    },
  });
}

async function recordRelief(body: z.output<typeof reliefReport>, deps: OutcomeEndpointDependencies) {
  if (!deps.relief) return problem(422, "friction relief is not enabled on this service");
  const { outcome, session, time } = body;
  const username = canonicalUsername(body.username);
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

function contextOf(report: z.infer<typeof outcomeReport>, policy: CompiledPolicy, deps: OutcomeEndpointDependencies): AttemptContext {
  const identity = clientIdentity({ address: parseAddress(report.ip), username: report.username }, policy.client, deps.pseudonymiser);
  return identifiedAttempt(report.endpoint, identity, report.time ? Date.parse(report.time) : deps.clock.now(), true);
}
