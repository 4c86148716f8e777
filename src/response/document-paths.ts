/**
 * Paths into a policy's `spec`, written with `/` between segments, where an element of a list
 * of named things (endpoints, rules, lists) is addressed by its name or id rather than its
 * position: `endpoints/login/velocity/ip/threshold`, `rules/adaptive/limit/requests`. Names may
 * contain dots, never slashes, so the path is unambiguous; and a path stays valid when the
 * operator reorders the rules.
 */
export function splitPath(path: string): string[] {
  return path.replace(/^\/+|\/+$/g, "").split("/").filter((segment) => segment !== "");
}

/** The segment naming an element of a list: its `name` or `id`, else its position. */
export function elementSegment(element: unknown, index: number): string {
  if (typeof element === "object" && element !== null) {
    const named = (element as { name?: unknown; id?: unknown }).name ?? (element as { id?: unknown }).id;
    if (typeof named === "string") return named;
  }
  return String(index);
}

/** The container holding the path's last segment and the key of that segment in it. */
export function locate(root: unknown, path: string): { container: Record<string, unknown> | unknown[]; key: string | number } | undefined {
  const segments = splitPath(path);
  if (segments.length === 0) return undefined;
  let node: unknown = root;
  for (const [i, segment] of segments.entries()) {
    const container = node as Record<string, unknown> | unknown[];
    const key = Array.isArray(container) ? container.findIndex((element, index) => elementSegment(element, index) === segment) : segment;
    const present = Array.isArray(container) ? key !== -1 : typeof container === "object" && container !== null && Object.hasOwn(container, segment);
    if (!present) return undefined;
    if (i === segments.length - 1) return { container, key };
    node = (container as Record<string | number, unknown>)[key];
  }
  return undefined;
}

/** The number at `path`, or undefined when the path leads nowhere or to something else. */
export function numberAt(root: unknown, path: string): number | undefined {
  const found = locate(root, path);
  const value = found && (found.container as Record<string | number, unknown>)[found.key];
  return typeof value === "number" ? value : undefined;
}

export interface DocumentChange {
  path: string;
  kind: "added" | "removed" | "changed";
  from?: unknown;
  to?: unknown;
}

/** What changed from `before` to `after`, leaf by leaf, with paths as above. */
export function diffDocuments(before: unknown, after: unknown, path = ""): DocumentChange[] {
  if (isNamedList(before) && isNamedList(after)) return diffEntries(byName(before), byName(after), path);
  if (isRecord(before) && isRecord(after)) return diffEntries(new Map(Object.entries(before)), new Map(Object.entries(after)), path);
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path, kind: "changed", from: before, to: after }];
}

function diffEntries(before: Map<string, unknown>, after: Map<string, unknown>, path: string): DocumentChange[] {
  const changes: DocumentChange[] = [];
  for (const [key, value] of before) {
    const at = path ? `${path}/${key}` : key;
    if (!after.has(key)) changes.push({ path: at, kind: "removed", from: value });
    else changes.push(...diffDocuments(value, after.get(key), at));
  }
  for (const [key, value] of after) if (!before.has(key)) changes.push({ path: path ? `${path}/${key}` : key, kind: "added", to: value });
  return changes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A list whose elements all carry a name or id: compared by name, not by position. */
function isNamedList(value: unknown): value is unknown[] {
  return Array.isArray(value) && value.length > 0 && value.every((element, i) => elementSegment(element, i) !== String(i));
}

function byName(list: unknown[]): Map<string, unknown> {
  return new Map(list.map((element, i) => [elementSegment(element, i), element]));
}
