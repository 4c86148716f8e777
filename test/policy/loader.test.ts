import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PolicyError } from "../../src/policy/compile.js";
import { compileSnapshot, formatIssues, isInside, listFileNames, loadPolicy, MAX_LIST_FILE_BYTES, parsePolicyText, readPolicySnapshot } from "../../src/policy/loader.js";

const policyText = (name: string) => `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: ${name} }
spec: {}
`;
const ratelimitText = "domain: palisade\ndescriptors: []\n";

async function rejection(promise: Promise<unknown>): Promise<PolicyError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(PolicyError);
  return error as PolicyError;
}

function thrownBy(run: () => unknown): PolicyError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return error as PolicyError;
  }
  throw new Error("expected a PolicyError, but nothing was thrown");
}

describe("parsePolicyText", () => {
  it("applies the schema's defaults", () => {
    const policy = parsePolicyText(policyText("defaults"), "inline");
    expect(policy.mode).toBe("enforce");
    expect(policy.failMode).toBe("open");
    expect(policy.client.ipSource).toBe("x-forwarded-for");
  });

  it("reports every schema issue at once, with paths an operator can follow", () => {
    const text = `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: x, annotations: { palisade.dev/owner: 3 } }
spec:
  mode: loud
  endpoints:
    - { name: a, match: { path: /a }, velocity: { ip: { window: 1m, threshold: 1.5 } } }
`;
    expect(formatIssues(thrownBy(() => parsePolicyText(text, "p.yaml"))).split("\n")).toEqual([
      'p.yaml: metadata.annotations["palisade.dev/owner"]: expected a string, got 3',
      'p.yaml: spec.mode: expected one of "enforce", "shadow"; got "loud"',
      "p.yaml: spec.endpoints[0].velocity.ip.threshold: expected an integer, got 1.5",
    ]);
  });

  it("rejects a second YAML document", () => {
    expect(() => parsePolicyText(`${policyText("one")}---\n${policyText("two")}`, "p.yaml")).toThrow(
      /line 5, column 1: a policy file holds one YAML document/,
    );
  });

  it("compiles list files passed in", () => {
    const text = `${policyText("lists").replace("spec: {}", "spec:")}
  reputation:
    lists: [{ name: partners, effect: allow, files: [partners.txt] }]
`;
    const policy = parsePolicyText(text, "p.yaml", new Map([["partners.txt", "203.0.113.0/28\n"]]));
    expect(policy.lists[0]?.entries).toBe(1);
  });

  it("compiles feeds of lists and bots, and refuses what cannot work", () => {
    const spec = (body: string) => `${policyText("feeds").replace("spec: {}", "spec:")}
${body}`;
    const policy = parsePolicyText(
      spec(`  reputation:
    lists: [{ name: drop, effect: block, feeds: [{ source: "https://lists.example/drop.txt", format: spamhaus, refresh: 12h }] }]
  bots:
    allowed: [{ name: examplebot, category: search-engine, userAgent: ExampleBot, feeds: [{ source: bots.json, format: json }] }]
`),
      "p.yaml",
    );
    expect(policy.lists[0]?.feeds).toEqual([{ source: "https://lists.example/drop.txt", format: "spamhaus", column: undefined, refreshMs: 12 * 3_600_000 }]);
    expect(policy.bots.allowed[0]?.feeds[0]).toMatchObject({ source: "bots.json", format: "json", refreshMs: 3_600_000 });
    const refused = thrownBy(() =>
      parsePolicyText(
        spec(`  reputation:
    lists:
      - { name: a, effect: block, feeds: [{ source: "ftp://lists.example/a.txt" }] }
      - { name: a, effect: block, feeds: [{ source: a.txt, column: ip }] }
  bots:
    allowed: [{ name: nobot, category: x, userAgent: X }]
`),
        "p.yaml",
      ),
    );
    expect(formatIssues(refused)).toMatch(/a feed is a file path or an http\(s\):\/\/ URL/);
    expect(formatIssues(refused)).toMatch(/an allowed bot needs cidrs or feeds/);
    const semantic = thrownBy(() =>
      parsePolicyText(spec(`  reputation:
    lists:
      - { name: a, effect: block, feeds: [{ source: a.txt, column: ip }] }
      - { name: a, effect: label, cidrs: [192.0.2.0/24] }
`), "p.yaml"),
    );
    expect(formatIssues(semantic)).toMatch(/column applies to the csv format only/);
    expect(formatIssues(semantic)).toMatch(/duplicate list name "a"/);
  });

  it("refuses a login pass for shared addresses without the failure ratio that proves a crowd", () => {
    const shared = (extra: string) => `apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: x }
spec:
  signals:
    sharedAddress: { cookies: [sid], logins: { minSignedIn: 5 } }
${extra}`;
    expect(formatIssues(thrownBy(() => parsePolicyText(shared(""), "p.yaml")))).toBe(
      "p.yaml: spec.signals.sharedAddress.logins: sharedAddress.logins needs failureRatio: a shared address proves a crowd only by a failure ratio it keeps low",
    );
    const policy = parsePolicyText(shared("    failureRatio: { window: 10m, minAttempts: 8, threshold: 0.7, weight: 20 }\n"), "p.yaml");
    expect(policy.signals.sharedAddress?.logins).toEqual({ minSignedIn: 5, maxFailureRatio: 0.3 });
  });
});

describe("loadPolicy on a directory", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-loader-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("prefers policy.yaml when the ConfigMap carries other YAML", async () => {
    writeFileSync(join(dir, "policy.yaml"), policyText("named"));
    writeFileSync(join(dir, "ratelimit.yaml"), ratelimitText);
    writeFileSync(join(dir, "other.yaml"), policyText("other"));
    expect((await loadPolicy(dir)).name).toBe("named");
  });

  it("otherwise takes the one file whose kind is Policy", async () => {
    writeFileSync(join(dir, "ratelimit.yaml"), ratelimitText);
    writeFileSync(join(dir, "storefront.yml"), policyText("by-kind"));
    writeFileSync(join(dir, "notes.txt"), "not yaml");
    expect((await loadPolicy(dir)).name).toBe("by-kind");
  });

  it("takes a lone YAML file even when it is broken, to report its own errors", async () => {
    writeFileSync(join(dir, "mine.yaml"), "apiVersion: [\n");
    const error = await rejection(loadPolicy(dir));
    expect(error.source).toBe(join(dir, "mine.yaml"));
  });

  it("prefers policy.yml when there is no policy.yaml", async () => {
    writeFileSync(join(dir, "policy.yml"), policyText("yml"));
    writeFileSync(join(dir, "another.yaml"), policyText("another"));
    expect((await loadPolicy(dir)).name).toBe("yml");
  });

  it("does not count a file without a kind, or of another kind, as unparsable", async () => {
    writeFileSync(join(dir, "a.yaml"), "domain: palisade\n");
    writeFileSync(join(dir, "b.yaml"), "kind: ConfigMap\n");
    const error = await rejection(loadPolicy(dir));
    expect(error.issues[0]?.message).toBe("none of a.yaml, b.yaml has kind: Policy; name the policy file policy.yaml");
    expect(error.source).toBe(dir);
  });

  it("rejects several Policy files without a policy.yaml", async () => {
    writeFileSync(join(dir, "a.yaml"), policyText("a"));
    writeFileSync(join(dir, "b.yaml"), policyText("b"));
    const error = await rejection(loadPolicy(dir));
    expect(formatIssues(error)).toBe(
      `${dir}: several files have kind: Policy (a.yaml, b.yaml); keep one, or name the one to use policy.yaml`,
    );
  });

  it("rejects a directory where no file is a Policy", async () => {
    writeFileSync(join(dir, "ratelimit.yaml"), ratelimitText);
    writeFileSync(join(dir, "broken.yaml"), "kind: [\n");
    const error = await rejection(loadPolicy(dir));
    expect(error.issues[0]?.message).toBe(
      "none of broken.yaml, ratelimit.yaml has kind: Policy (broken.yaml could not be parsed); name the policy file policy.yaml",
    );
  });

  it("rejects a directory without YAML", async () => {
    const error = await rejection(loadPolicy(dir));
    expect(error.issues[0]?.message).toBe("no *.yaml or *.yml file in the directory");
  });

  it("reads through kubelet's ..data links and ignores its hidden entries", async () => {
    mkdirSync(join(dir, "..2026_11_24_18_00_00.000000001"));
    writeFileSync(join(dir, "..2026_11_24_18_00_00.000000001", "policy.yaml"), policyText("mounted"));
    writeFileSync(join(dir, "..2026_11_24_18_00_00.000000001", "partners.txt"), "203.0.113.0/28\n");
    symlinkSync("..2026_11_24_18_00_00.000000001", join(dir, "..data"));
    symlinkSync("..data/policy.yaml", join(dir, "policy.yaml"));
    symlinkSync("..data/partners.txt", join(dir, "partners.txt"));
    expect((await loadPolicy(dir)).name).toBe("mounted");
  });

  it("resolves list files against the policy file's directory", async () => {
    mkdirSync(join(dir, "lists"));
    writeFileSync(join(dir, "lists", "partners.txt"), "203.0.113.0/28\n2001:db8::/32\n");
    writeFileSync(
      join(dir, "policy.yaml"),
      `${policyText("lists").replace("spec: {}", "spec:")}
  reputation:
    lists: [{ name: partners, effect: allow, files: [lists/partners.txt] }]
`,
    );
    const policy = await loadPolicy(dir);
    expect(policy.lists[0]?.entries).toBe(2);
  });

  it("refuses list files outside the allowed roots unread, symbolic links included", async () => {
    const outside = mkdtempSync(join(tmpdir(), "palisade-outside-"));
    try {
      writeFileSync(join(outside, "tokens.txt"), "s3cret-token-value\n");
      symlinkSync(join(outside, "tokens.txt"), join(dir, "innocent.txt"));
      const withFiles = (files: string[]) =>
        `${policyText("roots").replace("spec: {}", "spec:")}
  reputation:
    lists: [{ name: partners, effect: allow, files: ${JSON.stringify(files)} }]
`;
      for (const files of [[join(outside, "tokens.txt")], ["innocent.txt"], ["../" + outside.split("/").pop() + "/tokens.txt"]]) {
        writeFileSync(join(dir, "policy.yaml"), withFiles(files));
        const error = await rejection(loadPolicy(dir));
        expect(formatIssues(error)).toContain("is outside the allowed policy file roots");
        expect(formatIssues(error)).not.toContain("s3cret");
      }
      // A configured root allows it; the bad line is located but not quoted.
      writeFileSync(join(dir, "policy.yaml"), withFiles([join(outside, "tokens.txt")]));
      const error = await rejection(loadPolicy(dir, { fileRoots: [outside] }));
      expect(formatIssues(error)).toContain("files[0] line 1: not an IP address or CIDR range");
      expect(formatIssues(error)).not.toContain("s3cret");
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("bounds the issues an error carries", async () => {
    const cidrs = Array.from({ length: 500 }, (_, i) => `"bad-${i}-${"y".repeat(1000)}"`).join(", ");
    writeFileSync(
      join(dir, "policy.yaml"),
      `${policyText("many").replace("spec: {}", "spec:")}
  reputation:
    lists: [{ name: noisy, effect: block, cidrs: [${cidrs}] }]
`,
    );
    const error = await rejection(loadPolicy(dir));
    expect(error.issues.length).toBe(51);
    expect(error.issues.at(-1)?.message).toBe("and 450 more issues");
    expect(formatIssues(error).length).toBeLessThan(51 * 400);
  });

  it("names a missing location", async () => {
    const error = await rejection(loadPolicy(join(dir, "absent.yaml")));
    expect(formatIssues(error)).toBe(`${join(dir, "absent.yaml")}: cannot read: no such file or directory`);
  });
});

describe("listFileNames", () => {
  it("names the files of reputation and probe lists once each, in order", () => {
    const text = `${policyText("names").replace("spec: {}", "spec:")}
  reputation:
    lists:
      - { name: a, effect: block, files: [a.txt, shared.txt] }
      - { name: b, effect: block }
      - { name: c, effect: block, files: [shared.txt, "", 7] }
  signals:
    probing:
      lists: [{ name: p, files: [probes.txt] }]
`;
    expect(listFileNames(text)).toEqual(["a.txt", "shared.txt", "probes.txt"]);
  });

  it("reads leniently: malformed text or lists name no files, for validation to report", () => {
    expect(listFileNames("spec: [")).toEqual([]);
    expect(listFileNames("")).toEqual([]);
    expect(listFileNames("spec: { reputation: { lists: { files: [x.txt] } } }")).toEqual([]);
    expect(listFileNames("spec: { reputation: { lists: [null, { files: x.txt }] } }")).toEqual([]);
  });
});

describe("isInside", () => {
  it("holds for paths below the root only", () => {
    expect(isInside("/srv/policy/lists/a.txt", "/srv/policy")).toBe(true);
    expect(isInside("/srv/policy", "/srv/policy")).toBe(false);
    expect(isInside("/srv/policy-other/a.txt", "/srv/policy")).toBe(false);
    expect(isInside("/srv/a.txt", "/srv/policy")).toBe(false);
    expect(isInside("/srv/policy/..a.txt", "/srv/policy")).toBe(true);
  });
});

describe("readPolicySnapshot", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-snapshot-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const withList = (files: string[]) => `${policyText("snap").replace("spec: {}", "spec:")}
  reputation:
    lists: [{ name: l, effect: block, files: ${JSON.stringify(files)} }]
`;

  it("holds the policy text and each readable list file, and where they were looked for", async () => {
    writeFileSync(join(dir, "policy.yaml"), withList(["a.txt", "missing.txt"]));
    writeFileSync(join(dir, "a.txt"), "192.0.2.0/24\n");
    const snapshot = await readPolicySnapshot(join(dir, "policy.yaml"));
    expect(snapshot.source).toBe(join(dir, "policy.yaml"));
    expect(snapshot.text).toBe(withList(["a.txt", "missing.txt"]));
    expect([...snapshot.listFiles]).toEqual([["a.txt", "192.0.2.0/24\n"]]);
    expect(snapshot.listPaths).toEqual([join(dir, "a.txt"), join(dir, "missing.txt")]);
    // The missing file is reported by compiling, by name.
    expect(formatIssues(thrownBy(() => compileSnapshot(snapshot)))).toBe(`${join(dir, "policy.yaml")}: spec.reputation.lists[0].files[1]: cannot read list file "missing.txt"`);
  });

  it("leaves out a list file it cannot read as text (a directory)", async () => {
    mkdirSync(join(dir, "folder.txt"));
    writeFileSync(join(dir, "policy.yaml"), withList(["folder.txt"]));
    expect((await readPolicySnapshot(join(dir, "policy.yaml"))).listFiles.size).toBe(0);
  });

  it("refuses a list file over the size limit unread", async () => {
    writeFileSync(join(dir, "policy.yaml"), withList(["huge.txt", "fits.txt"]));
    writeFileSync(join(dir, "huge.txt"), "");
    truncateSync(join(dir, "huge.txt"), MAX_LIST_FILE_BYTES + 1);
    writeFileSync(join(dir, "fits.txt"), "");
    truncateSync(join(dir, "fits.txt"), MAX_LIST_FILE_BYTES);
    const error = await rejection(readPolicySnapshot(join(dir, "policy.yaml"), {}, () => ["huge.txt"]));
    expect(error.issues).toEqual([{ path: "spec.reputation.lists", message: `list file "huge.txt" is larger than ${MAX_LIST_FILE_BYTES} bytes` }]);
    expect(MAX_LIST_FILE_BYTES).toBe(32 * 1024 * 1024);
    // At the limit it is read (a file of NUL bytes, then rejected as not a list when compiled).
    expect((await readPolicySnapshot(join(dir, "policy.yaml"), {}, () => ["fits.txt"])).listFiles.get("fits.txt")).toHaveLength(MAX_LIST_FILE_BYTES);
  });

  it("reads list files from the configured roots, a root that does not exist included", async () => {
    const other = mkdtempSync(join(tmpdir(), "palisade-root-"));
    try {
      writeFileSync(join(other, "b.txt"), "198.51.100.0/24\n");
      writeFileSync(join(dir, "policy.yaml"), withList([join(other, "b.txt")]));
      const snapshot = await readPolicySnapshot(join(dir, "policy.yaml"), { fileRoots: [join(dir, "absent"), other] });
      expect(snapshot.listFiles.get(join(other, "b.txt"))).toBe("198.51.100.0/24\n");
      // With roots given, the policy's own directory is no longer one of them.
      writeFileSync(join(dir, "c.txt"), "192.0.2.0/24\n");
      writeFileSync(join(dir, "policy.yaml"), withList(["c.txt"]));
      const error = await rejection(readPolicySnapshot(join(dir, "policy.yaml"), { fileRoots: [other] }));
      expect(error.issues[0]?.message).toBe('list file "c.txt" is outside the allowed policy file roots');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe("parsePolicyText's errors", () => {
  it("names an empty file as such", () => {
    for (const text of ["", "# only a comment\n", "\n\n"]) {
      expect(thrownBy(() => parsePolicyText(text, "p.yaml")).issues).toEqual([
        { path: "", message: "the file is empty; expected a Policy document (apiVersion, kind, metadata, spec)" },
      ]);
    }
  });

  it("reports YAML syntax before the schema", () => {
    const error = thrownBy(() => parsePolicyText("kind: [\n", "p.yaml"));
    expect(error.source).toBe("p.yaml");
    expect(error.issues[0]?.message).not.toMatch(/apiVersion/);
  });
});
