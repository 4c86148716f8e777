import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  describeCase,
  loadUpstreamCase,
  UPSTREAM_CONFIG_CASES,
  UPSTREAM_DATA,
  UPSTREAM_RELOAD_FILE,
  upstreamDir,
  type UpstreamConfigCase,
} from "../support/envoy-ratelimit-upstream.js";
import { sharedDataMissing } from "../support/shared-data.js";

/**
 * envoyproxy/ratelimit's own configuration files, read in place: each valid one loads, each
 * invalid one is refused with the lines below (the original's message is in the case list).
 */
const PALISADE_ERRORS: Record<string, string> = {
  "test/config/bad_limit_unit.yaml":
    'test/config/bad_limit_unit.yaml: descriptors[0].rate_limit.unit: expected one of "second", "minute", "hour", "day", "week", "month", "year"; got "foo"',
  "test/config/bad_yaml.yaml": "test/config/bad_yaml.yaml: line 2, column 1: Missing closing 'quote",
  "test/config/basic_config.yaml + test/config/duplicate_domain.yaml":
    'test/config/duplicate_domain.yaml: domain: domain "test-domain" is already configured in basic_config.yaml; a domain lives in one file unless ratelimitMergeDomains (MERGE_DOMAIN_CONFIG) is set',
  "test/config/duplicate_key.yaml": 'test/config/duplicate_key.yaml: descriptors[1]: duplicate descriptor: key "key1" with value "value1" is already at descriptors[0]',
  "test/config/empty_domain.yaml": "test/config/empty_domain.yaml: domain: required; expected a string",
  "test/config/empty_key.yaml": "test/config/empty_key.yaml: descriptors[0].key: required; expected a string",
  "test/config/misspelled_key.yaml": 'test/config/misspelled_key.yaml: descriptors[0].ratelimit: unknown key (did you mean "rate_limit"?)',
  "test/config/misspelled_key2.yaml":
    'test/config/misspelled_key2.yaml: descriptors[0].rate_limit.requestsperunit: unknown key (did you mean "requests_per_unit"?)',
  "test/config/non_map_list.yaml": [0, 1, 2].map((i) => `test/config/non_map_list.yaml: descriptors[${i}]: expected a mapping, got "${"abc"[i]}"`).join("\n"),
  "test/config/non_string_key.yaml": [
    "test/config/non_string_key.yaml: domain: required; expected a string",
    'test/config/non_string_key.yaml: ["0.25"]: unknown key (allowed: domain, descriptors, failure_mode)',
  ].join("\n"),
  "test/config/replaces_empty.yaml":
    "test/config/replaces_empty.yaml: descriptors[0].descriptors[0].rate_limit.replaces[0].name: required: the name of the limit this one replaces",
  "test/config/replaces_self.yaml": "test/config/replaces_self.yaml: descriptors[0].descriptors[0].rate_limit.replaces[0].name: a limit cannot replace itself",
  "test/config/unlimited_with_unit.yaml": "test/config/unlimited_with_unit.yaml: descriptors[0].rate_limit: unlimited: true cannot be combined with unit",
};

const judgedRight: string[] = [];

describe.skipIf(sharedDataMissing(UPSTREAM_DATA))("envoyproxy/ratelimit's own configuration files", () => {
  const dir = upstreamDir!;

  it.each(UPSTREAM_CONFIG_CASES.map((c) => [describeCase(c), c] as const))("judges %s as envoyproxy/ratelimit does", async (_, upstreamCase: UpstreamConfigCase) => {
    const result = await loadUpstreamCase(dir, upstreamCase);
    const name = upstreamCase.paths.join(" + ");
    if (upstreamCase.upstreamError === undefined) {
      expect(result.ok ? "loads" : result.output).toBe("loads");
    } else {
      expect(result.ok ? "loads" : result.output).toBe(PALISADE_ERRORS[name]);
    }
    judgedRight.push(name);
  });

  it("covers every file of the folder", () => {
    const loaded = UPSTREAM_CONFIG_CASES.flatMap((c) => c.paths);
    const covered = (file: string) => file === UPSTREAM_RELOAD_FILE || loaded.some((path) => file === path || file.startsWith(`${path}/`));
    const files = yamlFiles(dir).map((file) => relative(dir, file));
    expect(files.filter((file) => !covered(file))).toEqual([]);
    expect(UPSTREAM_CONFIG_CASES).toHaveLength(21);
  });

  afterAll(() => {
    console.info(`[envoyproxy/ratelimit files] ${judgedRight.length} of ${UPSTREAM_CONFIG_CASES.length} judged right`);
  });
});

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}
