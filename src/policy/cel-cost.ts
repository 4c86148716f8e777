import { HEADER_CEILING } from "../domain/request.js";

/**
 * A static estimate of what evaluating a CEL condition costs, in abstract steps (one per node
 * visited), computed from the parsed expression at load time. Written here because
 * @bufbuild/cel has no cost estimator; the model follows the usual one for CEL: a
 * comprehension costs its body times the largest size its range can have.
 *
 * Sizes of the rule variables are their ceilings, so the estimate is an upper bound for any
 * request: `request.headers` holds at most HEADER_CEILING.entries entries, `reasons` and
 * `signal` at most MAX_SIGNALS, and a value of unknown size is taken to be UNKNOWN_SIZE long.
 */
export const MAX_SIGNALS = 256;
const UNKNOWN_SIZE = 1024;
/** Regular expressions and substring searches walk the string: priced as a short scan. */
const STRING_SCAN_COST = 16;
const STRING_FUNCTIONS = new Set(["matches", "contains", "startsWith", "endsWith", "size", "lowerAscii", "upperAscii", "replace", "split"]);

interface Estimate {
  cost: number;
  /** Largest number of elements (list, map) the expression can yield; 1 for scalars. */
  size: number;
}

type Node = { exprKind?: { case?: string; value?: Record<string, unknown> } };
type StructEntry = { keyKind?: { case?: string; value?: Node }; value?: Node };

export function estimateCost(expr: unknown): number {
  return estimate(expr as Node).cost;
}

function estimate(node: Node | undefined): Estimate {
  const kind = node?.exprKind;
  const value = kind?.value ?? {};
  switch (kind?.case) {
    case "constExpr":
      return { cost: 1, size: 1 };
    case "identExpr":
      return { cost: 1, size: identifierSize(String(value.name)) };
    case "selectExpr": {
      const operand = estimate(value.operand as Node);
      const field = String(value.field);
      return { cost: operand.cost + 1, size: field === "headers" ? HEADER_CEILING.entries : UNKNOWN_SIZE };
    }
    case "listExpr":
      return aggregate((value.elements as Node[] | undefined) ?? []);
    case "structExpr":
      // A map entry's key is the oneof `keyKind` (a message literal's entries name a field instead).
      return aggregate(((value.entries as StructEntry[] | undefined) ?? []).flatMap((e) => [e.keyKind?.case === "mapKey" ? e.keyKind.value : undefined, e.value]));
    case "callExpr":
      return call(value);
    case "comprehensionExpr":
      return comprehension(value);
    default:
      return { cost: 1, size: UNKNOWN_SIZE };
  }
}

function identifierSize(name: string): number {
  if (name === "reasons" || name === "signal") return MAX_SIGNALS;
  if (name === "request") return UNKNOWN_SIZE;
  return 1;
}

function aggregate(nodes: (Node | undefined)[]): Estimate {
  const parts = nodes.filter((n): n is Node => n !== undefined).map(estimate);
  return { cost: 1 + sum(parts.map((p) => p.cost)), size: Math.max(1, parts.length) };
}

function call(value: Record<string, unknown>): Estimate {
  const target = value.target as Node | undefined;
  const parts = [...(target ? [estimate(target)] : []), ...((value.args as Node[] | undefined) ?? []).map(estimate)];
  const fn = String(value.function);
  let cost = 1 + sum(parts.map((p) => p.cost));
  let size = 1;
  if (fn === "@in") cost += parts[1]?.size ?? UNKNOWN_SIZE;
  else if (STRING_FUNCTIONS.has(fn)) cost += STRING_SCAN_COST;
  else if (fn === "_+_") size = sum(parts.map((p) => p.size));
  else if (fn === "_[_]") size = UNKNOWN_SIZE;
  return { cost, size };
}

/** The range is walked once per element; every step pays the loop condition and the step. */
function comprehension(value: Record<string, unknown>): Estimate {
  const range = estimate(value.iterRange as Node);
  const init = estimate(value.accuInit as Node);
  const condition = estimate(value.loopCondition as Node);
  const step = estimate(value.loopStep as Node);
  const result = estimate(value.result as Node);
  const iterations = range.size;
  return {
    cost: range.cost + init.cost + iterations * (condition.cost + step.cost) + result.cost,
    // map() and filter() accumulate up to one element per iteration.
    size: Math.max(init.size, iterations),
  };
}

function sum(values: number[]): number {
  return values.reduce((total, v) => total + v, 0);
}
