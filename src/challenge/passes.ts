import { LRUCache } from "lru-cache";
import type { Signal } from "../detection/signal.js";
import type { CompiledProofOfWork } from "../policy/challenge-schema.js";
import { classCovers, clientBinding, readPass, type EndpointClass } from "./pass-token.js";

/** What a pass is checked against: the request as the pipeline normalised it. */
export interface PassContext {
  headers: ReadonlyMap<string, string>;
  network: string | undefined;
  endpointClass: EndpointClass;
  nowMs: number;
}

export type PassOutcome = "valid" | "expired" | "forged" | "other_client" | "foreign_network" | "other_endpoint";

/** Networks remembered per token: enough to see a token spread, bounded whatever comes. */
const MAX_NETWORKS_PER_TOKEN = 16;

/**
 * Checks a pass token at Check time: one HMAC for the signature, one for the client binding,
 * no store round trip. A genuine token from a network it was not issued to is a replay signal
 * (it was copied off the device it was earned on); the networks each token was presented from
 * are counted in this replica's memory.
 */
export class PassChecker {
  readonly #key: () => Buffer;
  readonly #networks = new LRUCache<string, Set<string>>({ max: 50_000 });
  readonly #onChecked: (outcome: PassOutcome) => void;

  constructor(key: () => Buffer, onChecked: (outcome: PassOutcome) => void = () => {}) {
    this.#key = key;
    this.#onChecked = onChecked;
  }

  signals(token: string, context: PassContext, pow: CompiledProofOfWork): Signal[] {
    const { outcome, signal } = this.#judge(token, context, pow);
    this.#onChecked(outcome);
    return [signal];
  }

  #judge(token: string, context: PassContext, pow: CompiledProofOfWork): { outcome: PassOutcome; signal: Signal } {
    const key = this.#key();
    const reading = readPass(token, key, context.nowMs);
    if (reading.status !== "valid") return rejected(reading.status);
    const { claims } = reading;
    if (context.network !== undefined && claims.network !== context.network) {
      const networks = this.#networksOf(claims.id, claims.network, context.network);
      return {
        outcome: "foreign_network",
        signal: { code: "challenge.pass_replayed", value: networks, weight: pow.replayWeight, fired: true, detail: `pass presented from ${networks} networks` },
      };
    }
    if (clientBinding(context.headers, pow.bindHeaders, key) !== claims.client) return rejected("other_client");
    if (!classCovers(claims.endpointClass, context.endpointClass)) return rejected("other_endpoint");
    return { outcome: "valid", signal: { code: PASSED_CODE, value: claims.level, weight: 0, fired: true, detail: `level ${claims.level} pass` } };
  }

  #networksOf(id: string, issuedTo: string, seenFrom: string): number {
    const networks = this.#networks.get(id) ?? new Set([issuedTo]);
    if (networks.size < MAX_NETWORKS_PER_TOKEN) networks.add(seenFrom);
    this.#networks.set(id, networks);
    return networks.size;
  }
}

/** The reason a valid pass leaves; its value is the level it was earned at. */
export const PASSED_CODE = "challenge.passed";

function rejected(outcome: Exclude<PassOutcome, "valid" | "foreign_network">): { outcome: PassOutcome; signal: Signal } {
  return { outcome, signal: { code: "challenge.pass_rejected", value: 1, weight: 0, fired: true, detail: outcome } };
}
