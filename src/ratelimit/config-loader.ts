import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { parseDocument, type YAMLError } from "yaml";
import type { PolicyIssue } from "../policy/compile.js";
import { PREFERRED_POLICY_FILES } from "../policy/policy-file.js";
import { documentValue, issuesFromYaml, issuesFromZod, policyErrorMap } from "../config/issues.js";
import { describeFsError, yamlFilesIn } from "../config/files.js";
import {
  compileDomain,
  compileDomainFile,
  mergeDomainFiles,
  RateLimitConfigError,
  unknownReplaces,
  type CompiledDomainFile,
  type DomainConfig,
  type RateLimitConfig,
} from "./config.js";
import { domainFileSchema, type DomainFile } from "./config-schema.js";

/**
 * Everything a rate-limit configuration is built from, read in one go: the text of each file.
 * Building a snapshot needs no I/O, and equal snapshots build equal configurations (which is how
 * the hot reloader spots "nothing changed").
 */
export interface RateLimitSnapshot {
  /** The location as given: a file, or a directory mounted from a ConfigMap. */
  location: string;
  /** [path, text] of every candidate file, in name order. */
  files: [string, string][];
}

/** How files become domains. */
export interface RateLimitLoadOptions {
  /**
   * Several files may configure one domain, their top-level descriptors merged (envoyproxy's
   * MERGE_DOMAIN_CONFIG); otherwise a domain lives in one file.
   */
  mergeDomains?: boolean;
}

/** envoyproxy/ratelimit's runtime layout: RUNTIME_ROOT/RUNTIME_SUBDIRECTORY holds the files in config/. */
export const RUNTIME_CONFIG_DIRECTORY = "config";

/**
 * Reads `location`: a file holding one domain, or a directory in which every visible `*.yaml` /
 * `*.yml` file holds one domain, as envoyproxy/ratelimit loads its runtime directory. A directory
 * laid out as that project's runtime (a `config/` directory inside, as its Helm chart and tests
 * mount it) is read from `config/`. kubelet's `..*` entries are skipped, and so is the policy's
 * file (policy.yaml, or any Kubernetes-style document: a top-level `kind`), broken or not, so the
 * policy and the rate limits can share one ConfigMap without one's error blocking the other.
 */
export async function readRateLimitSnapshot(location: string): Promise<RateLimitSnapshot> {
  const info = await stat(location).catch((error: unknown) => {
    throw new RateLimitConfigError(location, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
  });
  const dir = info.isDirectory() ? await configDirectory(location) : undefined;
  const paths = dir ? (await yamlFilesIn(dir, RateLimitConfigError)).map((name) => join(dir, name)) : [location];
  const files = await Promise.all(
    paths.map(async (path) => {
      const text = await readFile(path, "utf8").catch((error: unknown) => {
        throw new RateLimitConfigError(path, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
      });
      return [path, text] as [string, string];
    }),
  );
  return { location, files: dir ? files.filter(([path, text]) => !belongsToThePolicy(path, text)) : files };
}

/**
 * In a directory shared with the policy (one ConfigMap for both), the policy's file is never
 * read as rate limits, even while it is broken: by its name (the one the policy loader prefers)
 * or by a top-level `kind:` / `apiVersion:` line, which no rate-limit file has. Otherwise a
 * policy edit with a YAML error would stop every rate-limit reload until it is fixed.
 */
function belongsToThePolicy(path: string, text: string): boolean {
  return (PREFERRED_POLICY_FILES as readonly string[]).includes(basename(path)) || /^(kind|apiVersion):/m.test(text);
}

/**
 * `location/config` when the directory has envoyproxy's runtime layout, else `location`. As
 * there, only config/ counts: files beside it (its tests keep reload.yaml there) are not loaded.
 */
async function configDirectory(location: string): Promise<string> {
  const nested = join(location, RUNTIME_CONFIG_DIRECTORY);
  return (await stat(nested).then((s) => s.isDirectory(), () => false)) ? nested : location;
}

export async function loadRateLimitConfig(location: string, options: RateLimitLoadOptions = {}): Promise<RateLimitConfig> {
  return buildRateLimitConfig(await readRateLimitSnapshot(location), options);
}

/** Parses, validates and compiles every file; throws RateLimitConfigError naming every issue. */
export function buildRateLimitConfig(snapshot: RateLimitSnapshot, options: RateLimitLoadOptions = {}): RateLimitConfig {
  const failures: RateLimitConfigError[] = [];
  const domains = new Map<string, CompiledDomainFile>();
  const attempt = (action: () => void): void => {
    try {
      action();
    } catch (error) {
      if (!(error instanceof RateLimitConfigError)) throw error;
      failures.push(error);
    }
  };
  for (const [path, text] of snapshot.files) {
    attempt(() => {
      const file = parseDomainSpec(text, path);
      if (file) addDomain(domains, compileDomainFile(file, path), options);
    });
  }
  for (const compiled of domains.values()) {
    const replaces = unknownReplaces([compiled]);
    for (const source of new Set(replaces.map((issue) => issue.source))) {
      const issues = replaces.filter((issue) => issue.source === source).map(({ path, message }) => ({ path, message }));
      failures.push(new RateLimitConfigError(source, issues));
    }
  }
  if (failures.length > 0) throw combine(failures, snapshot.location);
  if (domains.size === 0) {
    throw new RateLimitConfigError(snapshot.location, [
      { path: "", message: "no rate-limit configuration here: expected *.yaml files with a domain and descriptors" },
    ]);
  }
  return { domains: new Map([...domains].map(([name, compiled]) => [name, compiled.config])) };
}

/** One file's domain, or undefined for a Kubernetes-style document that is not ours. */
export function parseDomainFile(text: string, source: string): DomainConfig | undefined {
  const file = parseDomainSpec(text, source);
  return file && compileDomain(file, source);
}

/** One file, validated but not compiled; undefined for a Kubernetes-style document. */
function parseDomainSpec(text: string, source: string): DomainFile | undefined {
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new RateLimitConfigError(source, yamlIssues(document.errors));
  if (document.contents === null) {
    throw new RateLimitConfigError(source, [{ path: "", message: "the file is empty; expected a rate-limit configuration (domain, descriptors)" }]);
  }
  const value = documentValue(document, (issues) => new RateLimitConfigError(source, issues));
  if (isKubernetesDocument(value)) return undefined;
  const result = domainFileSchema.safeParse(value, { error: policyErrorMap });
  if (!result.success) throw new RateLimitConfigError(source, issuesFromZod(result.error.issues, domainFileSchema));
  return result.data;
}

function isKubernetesDocument(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && "kind" in value && "apiVersion" in value;
}

function addDomain(domains: Map<string, CompiledDomainFile>, compiled: CompiledDomainFile, options: RateLimitLoadOptions): void {
  const { domain, source } = compiled.config;
  const existing = domains.get(domain);
  if (!existing) {
    domains.set(domain, compiled);
    return;
  }
  if (!options.mergeDomains) {
    throw new RateLimitConfigError(source, [
      {
        path: "domain",
        message: `domain "${domain}" is already configured in ${basename(existing.config.source)}; a domain lives in one file unless ratelimitMergeDomains (MERGE_DOMAIN_CONFIG) is set`,
      },
    ]);
  }
  domains.set(domain, mergeDomainFiles(existing, compiled));
}

function yamlIssues(errors: readonly YAMLError[]): PolicyIssue[] {
  const multiple = errors.find((error) => error.code === "MULTIPLE_DOCS");
  if (multiple) return [{ path: "", message: "a rate-limit file holds one domain; put the next one (after ---) in a file of its own" }];
  return issuesFromYaml(errors);
}

/** One file's error as it is; several files' issues under the directory, each prefixed by its file. */
function combine(failures: RateLimitConfigError[], location: string): RateLimitConfigError {
  if (failures.length === 1) return failures[0]!;
  const issues = failures.flatMap((failure) =>
    failure.issues.map((issue) => ({ ...issue, path: issue.path ? `${basename(failure.source)}: ${issue.path}` : basename(failure.source) })),
  );
  return new RateLimitConfigError(location, issues);
}
