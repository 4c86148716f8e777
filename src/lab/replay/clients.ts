import type { Action } from "../../domain/decision.js";
import { clientAddressOf } from "../../pipeline/normalise.js";
import type { CompiledPolicy } from "../../policy/compile.js";
import type { Pseudonymiser } from "../../privacy/pseudonymiser.js";
import { toHttpAttributes } from "../../transport/grpc/authz/converter.js";
import type { CheckRequest } from "../../transport/grpc/protos.js";
import type { Verdict } from "./target.js";

/** One client's line in `replay --clients`: what it asked and what it got. */
export interface ClientLine {
  /** The IP pseudonym `serve` uses for the same address under the same key. */
  client: string;
  requests: number;
  mitigated: number;
  /** 1-based index, among this client's requests, of the first one denied; null when none was. */
  first_mitigated: number | null;
  actions: Partial<Record<Action, number>>;
}

/**
 * Per-client figures of a replay, keyed by IP pseudonym, in order of first appearance. The
 * address is read from the CheckRequest the way the policy's `client` settings say (the
 * X-Forwarded-For entry before the trusted hops, else the peer), so it is the client the
 * pipeline saw.
 */
export class ClientTally {
  readonly #clients = new Map<string, ClientLine>();

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly pseudonymiser: Pseudonymiser,
  ) {}

  record(request: CheckRequest, verdict: Verdict): void {
    const ip = clientIp(request, this.policy.client);
    const client = ip === undefined ? "-" : this.pseudonymiser.pseudonymise("ip", ip);
    let line = this.#clients.get(client);
    if (!line) this.#clients.set(client, (line = { client, requests: 0, mitigated: 0, first_mitigated: null, actions: {} }));
    line.requests++;
    line.actions[verdict.action] = (line.actions[verdict.action] ?? 0) + 1;
    if (!verdict.denied) return;
    line.mitigated++;
    line.first_mitigated ??= line.requests;
  }

  lines(): ClientLine[] {
    return [...this.#clients.values()];
  }

  /** JSON lines, one client each. */
  text(): string {
    return this.lines().map((line) => JSON.stringify(line)).join("\n") + (this.#clients.size > 0 ? "\n" : "");
  }
}

function clientIp(request: CheckRequest, client: CompiledPolicy["client"]): string | undefined {
  return clientAddressOf(toHttpAttributes(request), client)?.ip;
}
