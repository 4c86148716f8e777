/**
 * One rate-limit domain and descriptor set everywhere: examples/ratelimit.yaml (what `npm start`
 * loads) is the source; the chart's rateLimit.config and k8s/base/ratelimit.yaml are copies
 * (npm run deploy:sync); examples/envoy.yaml, the Istio EnvoyFilter and every Envoy snippet in
 * the README and docs/ send that domain, and every descriptor they build meets a limit in it.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseDomainFile } from "../../src/ratelimit/config-loader.js";
import { planDescriptor } from "../../src/ratelimit/descriptor-plan.js";
import { readRepoFile, readYaml, readYamlDocuments, REPO, sampleEntry } from "./fixtures.js";

const SOURCE = "examples/ratelimit.yaml";
const sourceText = readRepoFile(SOURCE);
const domain = parseDomainFile(sourceText, SOURCE)!;

/** Every value under a `key` anywhere in a parsed document. */
function valuesOf(node: unknown, key: string): unknown[] {
  if (Array.isArray(node)) return node.flatMap((child) => valuesOf(child, key));
  if (node === null || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([name, child]) => [...(name === key ? [child] : []), ...valuesOf(child, key)]);
}

/** The YAML code blocks of a Markdown file that configure Envoy's rate-limit filter. */
function envoySnippets(file: string): unknown[] {
  return [...readRepoFile(file).matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((match) => match[1]!)
    .filter((text) => text.includes("envoy.filters.http.ratelimit") || text.includes("rate_limits:"))
    .map((text) => parseYaml(text) as unknown);
}

const markdown = ["README.md", ...fs.readdirSync(path.join(REPO, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];
const envoyConfigs: [string, unknown][] = [
  ["examples/envoy.yaml", readYaml("examples/envoy.yaml")],
  ["examples/istio/ratelimit-envoyfilter.yaml", readYamlDocuments(readRepoFile("examples/istio/ratelimit-envoyfilter.yaml"))],
  ...markdown.flatMap((file) => envoySnippets(file).map((snippet, i): [string, unknown] => [`${file} snippet ${i + 1}`, snippet])),
];

describe("one rate-limit domain and descriptor set", () => {
  it("the chart and k8s/base carry examples/ratelimit.yaml unchanged (npm run deploy:sync)", () => {
    expect(readYaml("charts/palisade/values.yaml").rateLimit.config).toBe(sourceText);
    expect(readRepoFile("k8s/base/ratelimit.yaml")).toBe(sourceText);
  });

  it("every Envoy rate-limit filter, in the examples and the docs, asks for that domain", () => {
    expect(envoyConfigs.map(([file]) => file)).toEqual(expect.arrayContaining(["README.md snippet 1"]));
    for (const [file, config] of envoyConfigs) {
      const filters = valuesOf(config, "typed_config").filter((typed: any) => String(typed?.["@type"]).endsWith("ratelimit.v3.RateLimit"));
      for (const filter of filters as { domain: string }[]) expect(filter.domain, file).toBe(domain.domain);
    }
    const rateLimitFilters = envoyConfigs.flatMap(([, config]) => valuesOf(config, "typed_config")).filter((typed: any) => String(typed?.["@type"]).endsWith("ratelimit.v3.RateLimit"));
    expect(rateLimitFilters.length).toBeGreaterThanOrEqual(3);
  });

  it("every descriptor they build meets a limit in it", () => {
    let checked = 0;
    for (const [file, config] of envoyConfigs) {
      for (const limits of valuesOf(config, "rate_limits") as { actions: Record<string, unknown>[] }[][]) {
        for (const limit of limits) {
          const entries = limit.actions.map((action) => sampleEntry(action, "50"));
          const plan = planDescriptor(domain, { entries }, 1, (id) => id);
          expect(plan.kind, `${file}: ${entries.map((e) => `${e.key}=${e.value}`).join(", ")}`).toBe("limited");
          checked++;
        }
      }
    }
    // envoy.yaml: 2 on the virtual host and one per login, search and product route; Istio: 3.
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it("the documented object table names that domain", () => {
    expect(readRepoFile("docs/deployment.md")).toContain(`domain \`${domain.domain}\``);
  });
});
