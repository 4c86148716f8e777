/**
 * Direct evaluation of the rule conditions most policies are made of: reason membership,
 * signal presence and thresholds, risk comparisons, `reasons.exists(r, r.startsWith(…))`, and
 * `&&`, `||`, `!` over those. @bufbuild/cel evaluates any condition, but every evaluation
 * wraps the variables, converts each value it reads and walks its plan; for these forms that
 * was most of a replayed request's rule evaluation. Written by hand because no CEL library
 * compiles to plain functions; anything outside these forms is left to @bufbuild/cel
 * (`directCondition` answers undefined), and src/policy/cel-direct.test.ts holds every form
 * to @bufbuild/cel's answers.
 *
 * The answers are CEL's, errors included: a missing signal key is an error, and `&&` / `||`
 * absorb an error when the other side decides (`false && error` is false, `true || error` is
 * true), as CEL's commutative logical operators do.
 */

/** What a direct condition reads; policy/cel.ts's SharedActivation provides it. */
export interface DirectVariables {
  reasonList(): readonly string[];
  signalMap(): ReadonlyMap<string, number>;
  readonly riskValue: number;
}

/** The evaluation failed (CEL would answer an error value). */
export const DIRECT_ERROR = Symbol("cel error");

export type DirectResult = boolean | typeof DIRECT_ERROR;
export type DirectCondition = (variables: DirectVariables) => DirectResult;

/** A node of @bufbuild/cel's parsed expression, as far as it is read here. */
interface ExprNode {
  exprKind?: { case?: string; value?: unknown };
}

interface CallValue {
  function: string;
  target?: ExprNode;
  args: ExprNode[];
}

interface ComprehensionValue {
  iterVar: string;
  iterVar2?: string;
  iterRange?: ExprNode;
  accuVar: string;
  accuInit?: ExprNode;
  loopCondition?: ExprNode;
  loopStep?: ExprNode;
  result?: ExprNode;
}

type Comparison = (a: number, b: number) => boolean;

const COMPARISONS: Record<string, Comparison> = {
  "_<_": (a, b) => a < b,
  "_<=_": (a, b) => a <= b,
  "_>_": (a, b) => a > b,
  "_>=_": (a, b) => a >= b,
  "_==_": (a, b) => a === b,
  "_!=_": (a, b) => a !== b,
};

/** A plain function giving `expr`'s CEL answer, or undefined when `expr` is not of the forms above. */
export function directCondition(expr: unknown): DirectCondition | undefined {
  return direct(expr as ExprNode);
}

function direct(node: ExprNode | undefined): DirectCondition | undefined {
  const kind = node?.exprKind;
  if (kind?.case === "constExpr") {
    const constant = constantOf(node);
    return constant?.case === "boolValue" && typeof constant.value === "boolean" ? constantly(constant.value) : undefined;
  }
  if (kind?.case === "comprehensionExpr") return startsWithAny(kind.value as ComprehensionValue);
  if (kind?.case !== "callExpr") return undefined;
  const call = kind.value as CallValue;
  if (call.target !== undefined) return undefined;
  const args = call.args;
  switch (call.function) {
    case "_&&_":
      return args.length === 2 ? and(direct(args[0]), direct(args[1])) : undefined;
    case "_||_":
      return args.length === 2 ? or(direct(args[0]), direct(args[1])) : undefined;
    case "!_":
      return args.length === 1 ? not(direct(args[0])) : undefined;
    case "@in":
      return args.length === 2 ? membership(args[0], args[1]) : undefined;
  }
  const compare = Object.hasOwn(COMPARISONS, call.function) ? COMPARISONS[call.function] : undefined;
  return compare && args.length === 2 ? comparison(compare, args[0], args[1]) : undefined;
}

function constantly(value: boolean): DirectCondition {
  return () => value;
}

function and(left: DirectCondition | undefined, right: DirectCondition | undefined): DirectCondition | undefined {
  if (!left || !right) return undefined;
  return (variables) => {
    const a = left(variables);
    if (a === false) return false;
    const b = right(variables);
    if (b === false) return false;
    return a === DIRECT_ERROR || b === DIRECT_ERROR ? DIRECT_ERROR : true;
  };
}

function or(left: DirectCondition | undefined, right: DirectCondition | undefined): DirectCondition | undefined {
  if (!left || !right) return undefined;
  return (variables) => {
    const a = left(variables);
    if (a === true) return true;
    const b = right(variables);
    if (b === true) return true;
    return a === DIRECT_ERROR || b === DIRECT_ERROR ? DIRECT_ERROR : false;
  };
}

function not(operand: DirectCondition | undefined): DirectCondition | undefined {
  if (!operand) return undefined;
  return (variables) => {
    const value = operand(variables);
    return value === DIRECT_ERROR ? DIRECT_ERROR : !value;
  };
}

/** `"code" in reasons` or `"code" in signal`. */
function membership(element: ExprNode | undefined, collection: ExprNode | undefined): DirectCondition | undefined {
  const text = stringConstant(element);
  if (text === undefined) return undefined;
  const name = identName(collection);
  if (name === "reasons") return (variables) => variables.reasonList().includes(text);
  if (name === "signal") return (variables) => variables.signalMap().has(text);
  return undefined;
}

/** `risk <op> <int>` or `signal["code"] <op> <double>`. */
function comparison(compare: Comparison, left: ExprNode | undefined, right: ExprNode | undefined): DirectCondition | undefined {
  const constant = constantOf(right);
  if (identName(left) === "risk") {
    if (constant?.case !== "int64Value" || typeof constant.value !== "bigint") return undefined;
    const bound = Number(constant.value);
    if (!Number.isSafeInteger(bound)) return undefined;
    return (variables) => compare(variables.riskValue, bound);
  }
  const key = signalIndex(left);
  if (key === undefined || constant?.case !== "doubleValue" || typeof constant.value !== "number") return undefined;
  const bound = constant.value;
  return (variables) => {
    const value = variables.signalMap().get(key);
    return value === undefined ? DIRECT_ERROR : compare(value, bound);
  };
}

/** `signal["code"]`: the code, else undefined. */
function signalIndex(node: ExprNode | undefined): string | undefined {
  if (node?.exprKind?.case !== "callExpr") return undefined;
  const call = node.exprKind.value as CallValue;
  if (call.function !== "_[_]" || call.target !== undefined || call.args.length !== 2) return undefined;
  return identName(call.args[0]) === "signal" ? stringConstant(call.args[1]) : undefined;
}

/**
 * `reasons.exists(r, r.startsWith("prefix"))` as the parser expands the macro: a comprehension
 * over `reasons` whose accumulator starts false, steps `@result || r.startsWith(…)`, goes on
 * while `!@result` is not false, and is the result.
 */
function startsWithAny(loop: ComprehensionValue): DirectCondition | undefined {
  const accu = loop.accuVar;
  const element = loop.iterVar;
  if ((loop.iterVar2 ?? "") !== "" || element === "" || element === accu) return undefined;
  if (identName(loop.iterRange) !== "reasons") return undefined;
  const init = constantOf(loop.accuInit);
  if (init?.case !== "boolValue" || init.value !== false) return undefined;
  if (identName(loop.result) !== accu) return undefined;
  const condition = callOf(loop.loopCondition, "@not_strictly_false", 1);
  const negated = condition && callOf(condition.args[0], "!_", 1);
  if (!negated || identName(negated.args[0]) !== accu) return undefined;
  const step = callOf(loop.loopStep, "_||_", 2);
  if (!step || identName(step.args[0]) !== accu) return undefined;
  const test = step.args[1]?.exprKind?.case === "callExpr" ? (step.args[1].exprKind.value as CallValue) : undefined;
  if (!test || test.function !== "startsWith" || identName(test.target) !== element || test.args.length !== 1) return undefined;
  const prefix = stringConstant(test.args[0]);
  if (prefix === undefined) return undefined;
  return (variables) => variables.reasonList().some((code) => code.startsWith(prefix));
}

function callOf(node: ExprNode | undefined, name: string, arity: number): CallValue | undefined {
  if (node?.exprKind?.case !== "callExpr") return undefined;
  const call = node.exprKind.value as CallValue;
  return call.function === name && call.target === undefined && call.args.length === arity ? call : undefined;
}

function identName(node: ExprNode | undefined): string | undefined {
  return node?.exprKind?.case === "identExpr" ? (node.exprKind.value as { name: string }).name : undefined;
}

function constantOf(node: ExprNode | undefined): { case?: string; value?: unknown } | undefined {
  if (node?.exprKind?.case !== "constExpr") return undefined;
  return (node.exprKind.value as { constantKind?: { case?: string; value?: unknown } }).constantKind;
}

function stringConstant(node: ExprNode | undefined): string | undefined {
  const constant = constantOf(node);
  return constant?.case === "stringValue" && typeof constant.value === "string" ? constant.value : undefined;
}
