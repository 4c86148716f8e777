import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { parseDocument, type YAMLError } from "yaml";
import type { PolicyIssue } from "../policy/compile.js";
import { issuesFromYaml, issuesFromZod, policyErrorMap } from "../config/issues.js";
import { describeFsError, yamlFilesIn } from "../config/files.js";
import { compileDomain, RateLimitConfigError, type DomainConfig, type RateLimitConfig } from "./config.js";
import { domainFileSchema } from "./config-schema.js";

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

/**
 * Reads `location`: a file holding one domain, or a directory in which every visible `*.yaml` /
 * `*.yml` file holds one domain, as envoyproxy/ratelimit loads its runtime directory. kubelet's
 * `..*` entries are skipped, and so are Kubernetes-style documents (a top-level `kind`, such as
 * the Palisade policy), so the policy and the rate limits can share one ConfigMap.
 */
export async function readRateLimitSnapshot(location: string): Promise<RateLimitSnapshot> {
  const info = await stat(location).catch((error: unknown) => {
    throw new RateLimitConfigError(location, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
  });
  const paths = info.isDirectory() ? (await yamlFilesIn(location, RateLimitConfigError)).map((name) => join(location, name)) : [location];
  const files = await Promise.all(
    paths.map(async (path) => {
      const text = await readFile(path, "utf8").catch((error: unknown) => {
        throw new RateLimitConfigError(path, [{ path: "", message: `cannot read: ${describeFsError(error)}` }]);
      });
      return [path, text] as [string, string];
    }),
  );
  return { location, files };
}

export async function loadRateLimitConfig(location: string): Promise<RateLimitConfig> {
  return buildRateLimitConfig(await readRateLimitSnapshot(location));
}

/** Parses, validates and compiles every file; throws RateLimitConfigError naming every issue. */
export function buildRateLimitConfig(snapshot: RateLimitSnapshot): RateLimitConfig {
  const failures: RateLimitConfigError[] = [];
  const domains = new Map<string, DomainConfig>();
  for (const [path, text] of snapshot.files) {
    try {
      const domain = parseDomainFile(text, path);
      if (domain) addDomain(domains, domain);
    } catch (error) {
      if (!(error instanceof RateLimitConfigError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length > 0) throw combine(failures, snapshot.location);
  if (domains.size === 0) {
    throw new RateLimitConfigError(snapshot.location, [
      { path: "", message: "no rate-limit configuration here: expected *.yaml files with a domain and descriptors" },
    ]);
  }
  return { domains };
}

/** One file's domain, or undefined for a Kubernetes-style document that is not ours. */
export function parseDomainFile(text: string, source: string): DomainConfig | undefined {
  const document = parseDocument(text);
  if (document.errors.length > 0) throw new RateLimitConfigError(source, yamlIssues(document.errors));
  if (document.contents === null) {
    throw new RateLimitConfigError(source, [{ path: "", message: "the file is empty; expected a rate-limit configuration (domain, descriptors)" }]);
  }
  const value: unknown = document.toJS();
  if (isKubernetesDocument(value)) return undefined;
  const result = domainFileSchema.safeParse(value, { error: policyErrorMap });
  if (!result.success) throw new RateLimitConfigError(source, issuesFromZod(result.error.issues, domainFileSchema));
  return compileDomain(result.data, source);
}

function isKubernetesDocument(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && "kind" in value && "apiVersion" in value;
}

function addDomain(domains: Map<string, DomainConfig>, domain: DomainConfig): void {
  const existing = domains.get(domain.domain);
  if (existing) {
    throw new RateLimitConfigError(domain.source, [
      { path: "domain", message: `domain "${domain.domain}" is already configured in ${basename(existing.source)}; a domain lives in one file` },
    ]);
  }
  domains.set(domain.domain, domain);
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
