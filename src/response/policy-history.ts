import { createHash } from "node:crypto";
import { z } from "zod";
import type { CompiledPolicy } from "../policy/compile.js";
import type { PolicySnapshot } from "../policy/loader.js";
import type { SharedMapStore } from "../state/shared-map.js";
import { jsonDecoder } from "./codec.js";
import { ResponseError } from "./errors.js";

/**
 * A policy as it was loaded from the files, kept so that any replica can roll back to it: the
 * text and list files it was compiled from, not the compiled object.
 */
export interface PolicyVersion {
  /** Content hash: two loads of the same files are one version. */
  id: string;
  name: string;
  version: string;
  source: string;
  loadedAtMs: number;
  text: string;
  listFiles: [string, string][];
}

const versionSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  source: z.string(),
  loadedAtMs: z.number(),
  text: z.string(),
  listFiles: z.array(z.tuple([z.string(), z.string()])),
});

export function versionIdOf(snapshot: Pick<PolicySnapshot, "text" | "listFiles">): string {
  const hash = createHash("sha256").update(snapshot.text);
  for (const [name, text] of [...snapshot.listFiles].sort(([a], [b]) => a.localeCompare(b))) hash.update("\0").update(name).update("\0").update(text);
  return hash.digest("hex").slice(0, 12);
}

/** The unambiguous name of a kept version: its version string and content hash. */
export function versionRef(version: Pick<PolicyVersion, "version" | "id">): string {
  return `${version.version}@${version.id}`;
}

export function snapshotOf(version: Pick<PolicyVersion, "source" | "text" | "listFiles">): PolicySnapshot {
  return { source: version.source, text: version.text, listFiles: new Map(version.listFiles), listPaths: [] };
}

export const decodeVersion: (raw: string) => PolicyVersion | undefined = jsonDecoder(versionSchema);

/**
 * The last N policy versions any replica loaded, shared through the map "policies" (keyed by
 * id). Versions are kept as long as the audit trail, which refers to them.
 */
export class PolicyHistory {
  constructor(private readonly map: SharedMapStore) {}

  /** Records the version `policy` came from; `created` is false when some replica already had. */
  async record(snapshot: PolicySnapshot, policy: CompiledPolicy, nowMs: number): Promise<{ created: boolean; version: PolicyVersion }> {
    const version: PolicyVersion = {
      id: versionIdOf(snapshot),
      name: policy.name,
      version: policy.version,
      source: snapshot.source,
      loadedAtMs: nowMs,
      text: snapshot.text,
      listFiles: [...snapshot.listFiles],
    };
    const { maxAgeMs } = policy.response.audit;
    const stored = await this.map.putIfAbsent(version.id, JSON.stringify(version), maxAgeMs);
    if (stored.created) await this.#trim(policy.response.history.versions);
    return { created: stored.created, version: decodeVersion(stored.value) ?? version };
  }

  /** Newest first. */
  async list(): Promise<PolicyVersion[]> {
    const { entries } = await this.map.snapshot();
    return [...entries.values()].flatMap(({ value }) => decodeVersion(value) ?? []).sort((a, b) => b.loadedAtMs - a.loadedAtMs);
  }

  /**
   * A kept version by reference: its content-hash id (or a unique prefix of it), its
   * `version@id` ref, or its version string when only one kept version carries it. An edit
   * that kept `metadata.version` makes that string ambiguous: refused, naming the refs to use.
   */
  async find(ref: string): Promise<PolicyVersion | undefined> {
    const versions = await this.list();
    const at = ref.lastIndexOf("@");
    const [version, id] = at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : [undefined, ref];
    const byId = versions.filter((v) => (version === undefined || v.version === version) && id.length >= 4 && v.id.startsWith(id));
    if (byId.length === 1) return byId[0];
    const byVersion = version === undefined ? versions.filter((v) => v.version === ref) : [];
    const found = byId.length > 1 ? byId : byVersion;
    if (found.length > 1) {
      throw new ResponseError("conflict", `"${ref}" names ${found.length} kept versions (${found.map(versionRef).join(", ")}); give one of these refs`);
    }
    return found[0];
  }

  async #trim(keep: number): Promise<void> {
    const versions = await this.list();
    await Promise.all(versions.slice(keep).map((old) => this.map.remove(old.id)));
  }
}
