/**
 * Heap and memory limits agree: the image derives V8's heap cap from the container's memory
 * limit, and the chart's default limit holds the attack benchmark's plateau with margin.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/policies.js";
import { find, render } from "./fixtures.js";

const SCRIPT = path.join(repoRoot, "docker", "node-heap-cap.sh");
const MIB = 1024 * 1024;

/** The V8 heap limit, in MiB, of a node started by the entrypoint script under a fake cgroup. */
function heapLimitMib(files: Record<string, string>, env: Record<string, string> = {}): number {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-cgroup-"));
  try {
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      fs.writeFileSync(path.join(root, name), content);
    }
    const run = spawnSync("sh", [SCRIPT, "-e", "console.log(require('v8').getHeapStatistics().heap_size_limit)"], {
      env: { PATH: process.env.PATH, PALISADE_CGROUP_ROOT: root, ...env },
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    return Number(run.stdout.trim()) / MIB;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** `memory: 1Gi` → bytes. */
function quantityBytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!match) throw new Error(`unexpected quantity ${quantity}`);
  return Number(match[1]) * (match[2] === "Gi" ? 1024 * MIB : MIB);
}

/** The highest RSS and heap figures of BENCHMARKS.md's "Memory under attack" table. */
function benchmarkPeaks(): { rssMib: number; heapMib: number } {
  const text = fs.readFileSync(path.join(repoRoot, "BENCHMARKS.md"), "utf8");
  const table = text.slice(text.indexOf("| after requests | process RSS MiB | heap MiB"));
  const rows = table.split("\n").filter((line) => /^\| [\d+,]/.test(line)).map((line) => line.split("|").map((cell) => cell.trim()));
  expect(rows.length).toBeGreaterThan(3);
  return { rssMib: Math.max(...rows.map((r) => Number(r[2]))), heapMib: Math.max(...rows.map((r) => Number(r[3]))) };
}

describe("the image's heap cap", () => {
  it("is half the cgroup v2 limit, and PALISADE_HEAP_PERCENT changes the share", () => {
    // heap_size_limit is the old generation plus the young generation's fixed part.
    expect(heapLimitMib({ "memory.max": String(1024 * MIB) })).toBeGreaterThanOrEqual(512);
    expect(heapLimitMib({ "memory.max": String(1024 * MIB) })).toBeLessThan(600);
    expect(heapLimitMib({ "memory.max": String(1024 * MIB) }, { PALISADE_HEAP_PERCENT: "25" })).toBeLessThan(350);
  });

  it("reads cgroup v1, and sets no cap without a limit or when NODE_OPTIONS sets one", () => {
    expect(heapLimitMib({ "memory/memory.limit_in_bytes": String(512 * MIB) })).toBeLessThan(350);
    const uncapped = heapLimitMib({ "memory.max": "max" });
    expect(heapLimitMib({ "memory/memory.limit_in_bytes": "9223372036854771712" })).toBe(uncapped);
    expect(heapLimitMib({ "memory.max": String(1024 * MIB) }, { NODE_OPTIONS: "--max-old-space-size=200" })).toBeLessThan(300);
  });

  it("is what the image runs", () => {
    const dockerfile = fs.readFileSync(path.join(repoRoot, "Dockerfile"), "utf8");
    expect(dockerfile).toContain('ENTRYPOINT ["/app/docker/node-heap-cap.sh", "dist/src/cli/index.js"]');
  });
});

describe("the chart's default memory limit", () => {
  it("holds the attack benchmark's plateau with half again as margin, and the heap cap its heap", () => {
    const container = find(render({}).objects, "Deployment", "palisade").spec.template.spec.containers[0];
    const limitMib = quantityBytes(container.resources.limits.memory) / MIB;
    const peaks = benchmarkPeaks();
    expect(limitMib).toBeGreaterThanOrEqual(1.5 * peaks.rssMib);
    expect(limitMib / 2).toBeGreaterThanOrEqual(1.5 * peaks.heapMib);
  });
});

describe("the bundled Redis' persistence", () => {
  it("is off by default and, when on, keeps an append-only file on a claim", () => {
    const plain = render({});
    expect(plain.objects.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    expect(find(plain.objects, "ConfigMap", "palisade-redis").data["redis.conf"]).toContain("appendonly no");

    const persistent = render({ redis: { bundled: { persistence: { enabled: true, size: "2Gi" } } } });
    const claim = find(persistent.objects, "PersistentVolumeClaim", "palisade-redis");
    expect(claim.spec.resources.requests.storage).toBe("2Gi");
    expect(find(persistent.objects, "ConfigMap", "palisade-redis").data["redis.conf"]).toMatch(/appendonly yes\nappendfsync everysec/);
    const volumes = find(persistent.objects, "Deployment", "palisade-redis").spec.template.spec.volumes;
    expect(volumes.find((v: { name: string }) => v.name === "data")).toEqual({ name: "data", persistentVolumeClaim: { claimName: "palisade-redis" } });
  });
});
