/**
 * A test-only interpreter for the subset of Helm's template language that charts/palisade uses
 * (Go text/template actions plus the Sprig/Helm functions listed in FUNCTIONS), so the chart can
 * be rendered and its output checked on a machine without helm.
 *
 * It is not Helm: it knows only what our templates use, formats toYaml with the `yaml` package
 * rather than Go's, and throws on anything else (an unknown function, a field read from a nil
 * value) instead of guessing. `helm lint` and `helm template | kubeconform` stay the reference;
 * the README says so.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from "yaml";

// ---------------------------------------------------------------------------------------------
// Lexing: text and {{ actions }}, with {{- and -}} trimming the white space beside them
// ---------------------------------------------------------------------------------------------

type Token = { kind: "text"; text: string } | { kind: "action"; source: string; file: string };

function lex(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  let rest = source;
  while (rest.length > 0) {
    const open = rest.indexOf("{{");
    if (open < 0) {
      tokens.push({ kind: "text", text: rest });
      break;
    }
    let text = rest.slice(0, open);
    const trimLeft = rest.startsWith("{{- ", open);
    if (trimLeft) text = text.replace(/\s+$/, "");
    tokens.push({ kind: "text", text });
    const close = rest.indexOf("}}", open);
    if (close < 0) throw new Error(`${file}: unclosed action`);
    const trimRight = rest.slice(close - 2, close) === " -";
    const inner = rest.slice(open + (trimLeft ? 3 : 2), close - (trimRight ? 2 : 0)).trim();
    if (!inner.startsWith("/*")) tokens.push({ kind: "action", source: inner, file });
    rest = rest.slice(close + 2);
    if (trimRight) rest = rest.replace(/^\s+/, "");
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parsing actions into a tree
// ---------------------------------------------------------------------------------------------

type Operand =
  | { kind: "literal"; value: unknown }
  | { kind: "field"; base: "dot" | string; path: string[] }
  | { kind: "ident"; name: string }
  | { kind: "pipe"; pipeline: Pipeline };

interface Pipeline {
  declare?: { names: string[]; assign: boolean };
  commands: Operand[][];
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "output"; pipeline: Pipeline }
  | { kind: "if"; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { kind: "range" | "with"; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

const WORD = /^(?:"(?:[^"\\]|\\.)*"|`[^`]*`|[()|]|:?=|,|[^\s()|,]+)/;

function tokenizeAction(source: string): string[] {
  const words: string[] = [];
  let rest = source.trim();
  while (rest.length > 0) {
    const match = WORD.exec(rest);
    if (!match) throw new Error(`cannot read action: ${source}`);
    words.push(match[0]);
    rest = rest.slice(match[0].length).trimStart();
  }
  return words;
}

function parsePipeline(words: string[]): Pipeline {
  let declare: Pipeline["declare"];
  const assignAt = words.findIndex((w) => w === ":=" || w === "=");
  if (assignAt > 0 && words.slice(0, assignAt).every((w) => w.startsWith("$") || w === ",")) {
    declare = { names: words.slice(0, assignAt).filter((w) => w !== ","), assign: words[assignAt] === "=" };
    words = words.slice(assignAt + 1);
  }
  const commands: Operand[][] = [[]];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "|") {
      commands.push([]);
    } else if (word === "(") {
      let depth = 1;
      let j = i + 1;
      for (; j < words.length && depth > 0; j++) depth += words[j] === "(" ? 1 : words[j] === ")" ? -1 : 0;
      commands.at(-1)!.push({ kind: "pipe", pipeline: parsePipeline(words.slice(i + 1, j - 1)) });
      i = j - 1;
    } else {
      commands.at(-1)!.push(operand(word));
    }
  }
  return { declare, commands };
}

function operand(word: string): Operand {
  if (word.startsWith('"')) return { kind: "literal", value: JSON.parse(word) as string };
  if (word.startsWith("`")) return { kind: "literal", value: word.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(word)) return { kind: "literal", value: Number(word) };
  if (word === "true" || word === "false") return { kind: "literal", value: word === "true" };
  if (word === "nil") return { kind: "literal", value: undefined };
  if (word === ".") return { kind: "field", base: "dot", path: [] };
  if (word.startsWith(".")) return { kind: "field", base: "dot", path: word.slice(1).split(".") };
  if (word.startsWith("$")) {
    const [base, ...rest] = word.split(".");
    return { kind: "field", base: base!, path: rest };
  }
  return { kind: "ident", name: word };
}

function parse(tokens: Token[], defines: Map<string, Node[]>): Node[] {
  let index = 0;
  /** Parses until one of `stops` (an action keyword); returns the nodes and the stop met. */
  const block = (stops: string[]): { nodes: Node[]; stop?: string[] } => {
    const nodes: Node[] = [];
    while (index < tokens.length) {
      const token = tokens[index++]!;
      if (token.kind === "text") {
        if (token.text) nodes.push({ kind: "text", text: token.text });
        continue;
      }
      const words = tokenizeAction(token.source);
      const keyword = words[0]!;
      if (stops.includes(keyword)) return { nodes, stop: words };
      if (keyword === "if") {
        const branches = [{ cond: parsePipeline(words.slice(1)), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const part = block(["else", "end"]);
          branches.at(-1)!.body = part.nodes;
          if (!part.stop) throw new Error(`${token.file}: if without end`);
          if (part.stop[0] === "end") break;
          if (part.stop[1] === "if") {
            branches.push({ cond: parsePipeline(part.stop.slice(2)), body: [] });
            continue;
          }
          otherwise = closeBlock(token.file, "if");
          break;
        }
        nodes.push({ kind: "if", branches, otherwise });
      } else if (keyword === "range" || keyword === "with") {
        const part = block(["else", "end"]);
        if (!part.stop) throw new Error(`${token.file}: ${keyword} without end`);
        const otherwise = part.stop[0] === "else" ? closeBlock(token.file, keyword) : [];
        nodes.push({ kind: keyword, pipeline: parsePipeline(words.slice(1)), body: part.nodes, otherwise });
      } else if (keyword === "define") {
        const name = JSON.parse(words[1]!) as string;
        defines.set(name, closeBlock(token.file, "define"));
      } else {
        nodes.push({ kind: "output", pipeline: parsePipeline(words) });
      }
    }
    return { nodes };
  };
  const closeBlock = (file: string, what: string): Node[] => {
    const part = block(["end"]);
    if (!part.stop) throw new Error(`${file}: ${what} without end`);
    return part.nodes;
  };
  const result = block([]);
  return result.nodes;
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/** `fail` in a template: the message Helm would print. */
export class TemplateFailure extends Error {}

/** Variables of one block; a declaration is local, an assignment updates the declaring block. */
class Scope {
  private readonly vars = new Map<string, unknown>();
  constructor(private readonly parent?: Scope) {}
  child(): Scope {
    return new Scope(this);
  }
  has(name: string): boolean {
    return this.vars.has(name) || (this.parent?.has(name) ?? false);
  }
  get(name: string): unknown {
    return this.vars.has(name) ? this.vars.get(name) : this.parent?.get(name);
  }
  declare(name: string, value: unknown): void {
    this.vars.set(name, value);
  }
  assign(name: string, value: unknown): void {
    if (this.vars.has(name)) this.vars.set(name, value);
    else if (this.parent) this.parent.assign(name, value);
    else throw new Error(`assignment to undeclared ${name}`);
  }
}

function rootScope(dot: unknown): Scope {
  const scope = new Scope();
  scope.declare("$", dot);
  return scope;
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object") return Object.keys(value).length > 0;
  return true;
}

function display(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") throw new Error(`cannot print ${JSON.stringify(value)} as text`);
  return String(value);
}

function goQuote(value: unknown): string {
  return JSON.stringify(display(value));
}

function sprintf(format: string, args: unknown[]): string {
  let next = 0;
  return format.replace(/%([sdqv%])/g, (_, verb: string) => {
    if (verb === "%") return "%";
    const arg = args[next++];
    if (verb === "q") return goQuote(arg);
    if (verb === "d") {
      if (typeof arg !== "number" || !Number.isInteger(arg)) throw new Error(`printf %d of ${String(arg)}`);
      return String(arg);
    }
    return display(arg);
  });
}

function toInt(value: unknown): number {
  const number = typeof value === "string" ? Number.parseInt(value, 10) : Number(value ?? 0);
  return Number.isNaN(number) ? 0 : Math.trunc(number);
}

function toYaml(value: unknown): string {
  if (value === undefined || value === null) return "null";
  return stringifyYaml(value, { lineWidth: 0 }).replace(/\n$/, "");
}

function indentLines(spaces: number, text: string): string {
  const pad = " ".repeat(spaces);
  return text
    .split("\n")
    .map((line) => pad + line)
    .join("\n");
}

type Fn = (this: Renderer, ...args: unknown[]) => unknown;

const FUNCTIONS: Record<string, Fn> = {
  include(name, dot) {
    return this.include(String(name), dot);
  },
  toYaml: (value) => toYaml(value),
  toJson: (value) => JSON.stringify(value ?? null),
  fromJsonArray: (text) => JSON.parse(String(text)) as unknown[],
  toString: (value: unknown) => display(value),
  nindent: (spaces, text) => `\n${indentLines(toInt(spaces), display(text))}`,
  indent: (spaces, text) => indentLines(toInt(spaces), display(text)),
  quote: (...values) => values.map(goQuote).join(" "),
  default: (fallback, value) => (truthy(value) ? value : fallback),
  printf: (format, ...args) => sprintf(String(format), args),
  trunc: (length, text) => display(text).slice(0, toInt(length)),
  trimSuffix: (suffix, text) => {
    const s = display(text);
    return s.endsWith(String(suffix)) ? s.slice(0, s.length - String(suffix).length) : s;
  },
  replace: (from, to, text) => display(text).split(String(from)).join(String(to)),
  contains: (needle, text) => display(text).includes(String(needle)),
  regexMatch: (regex, text) => new RegExp(String(regex)).test(display(text)),
  sha256sum: (text) => createHash("sha256").update(display(text)).digest("hex"),
  eq: (a, ...others) => others.some((b) => a === b),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  and: (...values) => values.find((v) => !truthy(v)) ?? values.at(-1),
  or: (...values) => values.find((v) => truthy(v)) ?? values.at(-1),
  not: (value) => !truthy(value),
  int: (value) => toInt(value),
  add: (...values) => values.reduce<number>((sum, v) => sum + toInt(v), 0),
  list: (...values) => values,
  append: (list, value) => [...(list as unknown[]), value],
  dict: (...pairs) => {
    const result: Record<string, unknown> = {};
    for (let i = 0; i < pairs.length; i += 2) result[String(pairs[i])] = pairs[i + 1];
    return result;
  },
  fail: (message) => {
    throw new TemplateFailure(String(message));
  },
};

class Renderer {
  constructor(
    private readonly defines: Map<string, Node[]>,
  ) {}

  include(name: string, dot: unknown): string {
    const body = this.defines.get(name);
    if (!body) throw new Error(`include of undefined template "${name}"`);
    return this.nodes(body, dot, rootScope(dot));
  }

  nodes(nodes: Node[], dot: unknown, scope: Scope): string {
    let out = "";
    for (const node of nodes) out += this.node(node, dot, scope);
    return out;
  }

  private node(node: Node, dot: unknown, scope: Scope): string {
    switch (node.kind) {
      case "text":
        return node.text;
      case "output": {
        const value = this.pipeline(node.pipeline, dot, scope);
        return node.pipeline.declare ? "" : display(value);
      }
      case "if": {
        const inner = scope.child();
        for (const branch of node.branches) {
          if (truthy(this.pipeline(branch.cond, dot, inner))) return this.nodes(branch.body, dot, inner);
        }
        return this.nodes(node.otherwise, dot, inner);
      }
      case "with": {
        const inner = scope.child();
        const value = this.pipeline(node.pipeline, dot, inner);
        return truthy(value) ? this.nodes(node.body, value, inner) : this.nodes(node.otherwise, dot, inner);
      }
      case "range": {
        const inner = scope.child();
        const declare = node.pipeline.declare;
        const collection = this.pipeline({ commands: node.pipeline.commands }, dot, inner);
        const entries: [unknown, unknown][] = Array.isArray(collection)
          ? collection.map((v, i) => [i, v])
          : collection && typeof collection === "object"
            ? Object.keys(collection).sort().map((k) => [k, (collection as Record<string, unknown>)[k]])
            : [];
        if (entries.length === 0) return this.nodes(node.otherwise, dot, inner);
        return entries
          .map(([key, value]) => {
            const names = declare?.names ?? [];
            if (names.length === 1) inner.declare(names[0]!, value);
            if (names.length === 2) {
              inner.declare(names[0]!, key);
              inner.declare(names[1]!, value);
            }
            return this.nodes(node.body, value, inner);
          })
          .join("");
      }
    }
  }

  private pipeline(pipeline: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    let piped = false;
    for (const command of pipeline.commands) {
      value = this.command(command, dot, scope, piped ? [value] : []);
      piped = true;
    }
    if (pipeline.declare) {
      const name = pipeline.declare.names[0]!;
      if (pipeline.declare.assign) scope.assign(name, value);
      else scope.declare(name, value);
    }
    return value;
  }

  private command(command: Operand[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    const [head, ...rest] = command;
    if (!head) throw new Error("empty command");
    if (head.kind === "ident") {
      const fn = FUNCTIONS[head.name];
      if (!fn) throw new Error(`function "${head.name}" is not in the subset this interpreter knows`);
      const args = rest.map((arg) => this.operand(arg, dot, scope));
      return fn.call(this, ...args, ...piped);
    }
    if (rest.length > 0 || piped.length > 0) throw new Error("arguments given to a value");
    return this.operand(head, dot, scope);
  }

  private operand(op: Operand, dot: unknown, scope: Scope): unknown {
    switch (op.kind) {
      case "literal":
        return op.value;
      case "pipe":
        return this.pipeline(op.pipeline, dot, scope);
      case "ident":
        return this.command([op], dot, scope, []);
      case "field": {
        if (op.base !== "dot" && !scope.has(op.base)) throw new Error(`undefined variable ${op.base}`);
        let value = op.base === "dot" ? dot : scope.get(op.base);
        for (const key of op.path) {
          if (value === undefined || value === null || typeof value !== "object") {
            throw new Error(`nil pointer evaluating .${op.path.join(".")} (at "${key}")`);
          }
          value = (value as Record<string, unknown>)[key];
        }
        return value;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

export interface RenderOptions {
  releaseName: string;
  namespace: string;
  /** Merged over values.yaml, like `-f` / `--set`. */
  values?: Record<string, unknown>;
}

export interface RenderedChart {
  values: Record<string, unknown>;
  /** Rendered manifests by template file name (empty ones left out). */
  files: Record<string, string>;
  /** Every Kubernetes object in the manifests. */
  objects: Record<string, unknown>[];
  notes: string;
}

function deepMerge(base: unknown, override: unknown): unknown {
  if (!override || typeof override !== "object" || Array.isArray(override)) return override;
  if (!base || typeof base !== "object" || Array.isArray(base)) return override;
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(override)) result[key] = deepMerge(result[key], value);
  return result;
}

function capitalise(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), v]));
}

/** Renders a chart directory like `helm template`; throws TemplateFailure when a guard fails. */
export function renderChart(chartDir: string, options: RenderOptions): RenderedChart {
  const chart = parseYaml(fs.readFileSync(path.join(chartDir, "Chart.yaml"), "utf8")) as Record<string, unknown>;
  const defaults = parseYaml(fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8")) as Record<string, unknown>;
  const values = deepMerge(defaults, options.values ?? {}) as Record<string, unknown>;
  const root = {
    Values: values,
    Chart: capitalise(chart),
    Release: { Name: options.releaseName, Namespace: options.namespace, Service: "Helm", IsInstall: true },
  };
  const templatesDir = path.join(chartDir, "templates");
  const defines = new Map<string, Node[]>();
  const bodies = new Map<string, Node[]>();
  for (const name of fs.readdirSync(templatesDir).sort()) {
    const tokens = lex(fs.readFileSync(path.join(templatesDir, name), "utf8"), name);
    const nodes = parse(tokens, defines);
    if (!name.startsWith("_")) bodies.set(name, nodes);
  }
  const renderer = new Renderer(defines);
  const files: Record<string, string> = {};
  const objects: Record<string, unknown>[] = [];
  let notes = "";
  for (const [name, nodes] of bodies) {
    const text = renderer.nodes(nodes, root, rootScope(root));
    if (name === "NOTES.txt") {
      notes = text;
      continue;
    }
    if (!text.trim()) continue;
    files[name] = text;
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0) throw new Error(`${name}: ${document.errors[0]!.message}\n${text}`);
      const object = document.toJS() as Record<string, unknown> | null;
      if (object) objects.push(object);
    }
  }
  return { values, files, objects, notes };
}
