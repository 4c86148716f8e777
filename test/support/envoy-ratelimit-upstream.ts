/**
 * envoyproxy/ratelimit's own configuration files (unchanged copies with their licence in
 * `../shared/data/envoy-ratelimit/`, in their repository paths) and how that project judges each:
 * the 21 configurations its tests and examples load, with the error its config_test.go expects
 * for each invalid one. Shared by the offline walk and the live comparison with the reference.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RateLimitConfigError, type RateLimitConfig } from "../../src/ratelimit/config.js";
import { buildRateLimitConfig, loadRateLimitConfig } from "../../src/ratelimit/config-loader.js";
import { formatIssues } from "../../src/config/issues.js";
import { sharedDataDir } from "./shared-data.js";

export const UPSTREAM_DATA = "envoy-ratelimit";

/** The folder, or undefined when it is absent (tests then skip, saying so). */
export const upstreamDir = sharedDataDir(UPSTREAM_DATA);

export interface UpstreamConfigCase {
  /** What is loaded: one file or directory, or several files loaded together (as that project's test does). */
  paths: string[];
  /** MERGE_DOMAIN_CONFIG for this load. */
  mergeDomains?: boolean;
  /** undefined: the configuration is valid. Otherwise the error envoyproxy/ratelimit reports. */
  upstreamError?: string;
}

/** The example directory both of that project's example deployments mount. */
export const EXAMPLES_CONFIG = "examples/ratelimit/config";
/** Its integration tests' runtime directory (RUNTIME_ROOT runtime/current, RUNTIME_SUBDIRECTORY ratelimit). */
export const INTEGRATION_RUNTIME = "test/integration/runtime/current/ratelimit";

const config = (name: string) => `test/config/${name}`;

export const UPSTREAM_CONFIG_CASES: readonly UpstreamConfigCase[] = [
  { paths: [EXAMPLES_CONFIG] },
  { paths: [config("bad_limit_unit.yaml")], upstreamError: "bad_limit_unit.yaml: invalid rate limit unit 'foo'" },
  { paths: [config("bad_yaml.yaml")], upstreamError: "bad_yaml.yaml: error loading config file: yaml: line 2: found unexpected end of stream" },
  { paths: [config("basic_config.yaml")] },
  {
    paths: [config("basic_config.yaml"), config("duplicate_domain.yaml")],
    upstreamError: "duplicate_domain.yaml: duplicate domain 'test-domain' in config file",
  },
  { paths: [config("duplicate_key.yaml")], upstreamError: "duplicate_key.yaml: duplicate descriptor composite key 'test-domain.key1_value1'" },
  { paths: [config("empty_domain.yaml")], upstreamError: "empty_domain.yaml: config file cannot have empty domain" },
  { paths: [config("empty_key.yaml")], upstreamError: "empty_key.yaml: descriptor has empty key" },
  { paths: [config("merge_domain_key1.yaml"), config("merge_domain_key2.yaml")], mergeDomains: true },
  { paths: [config("metadata.yaml")] },
  { paths: [config("misspelled_key.yaml")], upstreamError: "misspelled_key.yaml: config error, unknown key 'ratelimit'" },
  { paths: [config("misspelled_key2.yaml")], upstreamError: "misspelled_key2.yaml: config error, unknown key 'requestsperunit'" },
  { paths: [config("non_map_list.yaml")], upstreamError: "non_map_list.yaml: config error, yaml file contains list of type other than map: a" },
  { paths: [config("non_string_key.yaml")], upstreamError: "non_string_key.yaml: config error, key is not of type string: 0.25" },
  { paths: [config("replaces_empty.yaml")], upstreamError: "replaces_empty.yaml: should not have an empty replaces entry" },
  { paths: [config("replaces_self.yaml")], upstreamError: "replaces_self.yaml: replaces should not contain name of same descriptor" },
  { paths: [config("shadowmode_config.yaml")] },
  { paths: [config("share_threshold.yaml")] },
  { paths: [config("unlimited_with_unit.yaml")], upstreamError: "unlimited_with_unit.yaml: should not specify rate limit unit when unlimited" },
  { paths: [config("wildcard.yaml")] },
  { paths: [INTEGRATION_RUNTIME] },
];

/** Files the cases above do not load: that project's reload test moves this one into config/. */
export const UPSTREAM_RELOAD_FILE = `${INTEGRATION_RUNTIME}/reload.yaml`;

export type UpstreamLoad = { ok: true; config: RateLimitConfig } | { ok: false; output: string };

/** Loads a case with Palisade's loader; the output names files relative to the upstream folder. */
export async function loadUpstreamCase(dir: string, upstreamCase: UpstreamConfigCase): Promise<UpstreamLoad> {
  const options = { mergeDomains: upstreamCase.mergeDomains ?? false };
  try {
    const [only, ...more] = upstreamCase.paths;
    const config =
      more.length === 0
        ? await loadRateLimitConfig(join(dir, only!), options)
        : buildRateLimitConfig({ location: dir, files: upstreamCase.paths.map((path) => [join(dir, path), readFileSync(join(dir, path), "utf8")]) }, options);
    return { ok: true, config };
  } catch (error) {
    if (!(error instanceof RateLimitConfigError)) throw error;
    return { ok: false, output: formatIssues(error).replaceAll(`${dir}/`, "") };
  }
}

export function describeCase(upstreamCase: UpstreamConfigCase): string {
  return upstreamCase.paths.join(" + ") + (upstreamCase.mergeDomains ? " (MERGE_DOMAIN_CONFIG)" : "");
}
