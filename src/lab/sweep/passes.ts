import type { CompiledPolicy } from "../../policy/compile.js";
import { attackKindOf } from "../lines.js";
import type { CheckEvent } from "../replay/events.js";
import type { Verdict } from "../replay/target.js";
import { fromStruct } from "../../transport/grpc/protos.js";
import { runPoint } from "./run.js";
import type { SweepPoint } from "./sweep-file.js";

/**
 * Where a request stands in its source's sequence: a page view (the shell, a picture: an
 * endpoint with `pageView`), the source's first request to any other endpoint, or a later one.
 * A first request is judged on what one request shows; a later one also on what the source did
 * before it, so the split tells which of an attack's requests a defence that answers sources by
 * their history can reach at all.
 */
export type Place = "page" | "first" | "later";

export interface PassRow {
  place: Place;
  /** The policy's endpoint, or "-" when no endpoint matched. */
  endpoint: string;
  requests: number;
  passed: number;
  /** The rule that denied each of the others → how many. */
  deniedBy: Record<string, number>;
}

export interface AttackPasses {
  rows: PassRow[];
  requests: number;
  passed: number;
  /**
   * The mitigated share if every page view and every source's first request passed and every
   * later request were denied: the most a defence that lets first requests through can reach.
   */
  laterShare: number | null;
  /** Each signal that fired on attack requests → on how many, whether they were denied or not. */
  signals: Record<string, number>;
}

/**
 * Counts an attack's requests by their place in their source's sequence, and how many passed.
 * A source is a client address with the cookies it sends: each lab attack source keeps one
 * address, and one that keeps a session sends its cookie from its first request past the
 * site's shell on, so two sessions that drew the same address are two sources.
 */
export class PassTally {
  readonly #pageViews: ReadonlySet<string>;
  readonly #started = new Set<string>();
  readonly #rows = new Map<string, PassRow>();
  readonly #signals: Record<string, number> = {};

  constructor(policy: Pick<CompiledPolicy, "endpoints">) {
    this.#pageViews = new Set(policy.endpoints.filter((e) => e.pageView).map((e) => e.name));
  }

  /** One decided request (replay's `onDecided`); legitimate traffic is left out. */
  add(event: CheckEvent, verdict: Verdict): void {
    if (attackKindOf(event.label) === undefined) return;
    const endpoint = verdict.endpoint ?? "-";
    const place = this.#place(sourceOf(event), endpoint);
    const key = `${place}\u0000${endpoint}`;
    const row = this.#rows.get(key) ?? { place, endpoint, requests: 0, passed: 0, deniedBy: {} };
    row.requests++;
    const rule = verdict.rule ?? "-";
    if (!verdict.denied) row.passed++;
    else row.deniedBy[rule] = (row.deniedBy[rule] ?? 0) + 1;
    this.#rows.set(key, row);
    for (const code of reasonsOf(verdict)) this.#signals[code] = (this.#signals[code] ?? 0) + 1;
  }

  result(): AttackPasses {
    const order: Place[] = ["page", "first", "later"];
    const rows = [...this.#rows.values()].sort((a, b) => order.indexOf(a.place) - order.indexOf(b.place) || a.endpoint.localeCompare(b.endpoint));
    const sum = (list: PassRow[], pick: (row: PassRow) => number) => list.reduce((total, row) => total + pick(row), 0);
    const requests = sum(rows, (row) => row.requests);
    const later = sum(rows.filter((row) => row.place === "later"), (row) => row.requests);
    return { rows, requests, passed: sum(rows, (row) => row.passed), laterShare: requests === 0 ? null : later / requests, signals: { ...this.#signals } };
  }

  #place(source: string, endpoint: string): Place {
    if (this.#pageViews.has(endpoint)) return "page";
    if (this.#started.has(source)) return "later";
    this.#started.add(source);
    return "first";
  }
}

/** The codes of the signals that fired, from the decision's metadata (as Envoy gets them). */
function reasonsOf(verdict: Verdict): string[] {
  const reasons = verdict.metadata ? fromStruct(verdict.metadata).reasons : undefined;
  return Array.isArray(reasons) ? reasons.filter((r): r is string => typeof r === "string") : [];
}

/** The client address a lab request came from (the first forwarded-for entry, else the peer) and its cookies. */
function sourceOf(event: CheckEvent): string {
  return `${clientAddressOf(event)}\u0000${event.request.attributes?.request?.http?.headers?.cookie ?? ""}`;
}

/** The client address a lab request came from: the first forwarded-for entry, else the peer. */
export function clientAddressOf(event: CheckEvent): string {
  const attributes = event.request.attributes;
  const forwarded = attributes?.request?.http?.headers?.["x-forwarded-for"]?.split(",")[0]?.trim();
  return forwarded || (attributes?.source?.address?.socket_address?.address ?? "");
}

/** One sweep point on one seed, replayed as the sweep does (by `replicas` sharing a store, one when absent), with its attack's requests tallied by place. */
export async function attackPasses(point: SweepPoint, seed: number, options: { policy: string; compiled: CompiledPolicy; replicas?: number }): Promise<AttackPasses & { idsScraped: number }> {
  const tally = new PassTally(options.compiled);
  const figures = await runPoint(point, seed, { ...options, onDecided: (event, [verdict]) => tally.add(event, verdict!) });
  return { ...tally.result(), idsScraped: figures.resourcesScraped };
}
