import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A directory laid out as kubelet mounts a ConfigMap: the data lives in a timestamped directory,
 * `..data` links to it, and each key is a link through `..data`. An update writes a new
 * timestamped directory and renames a new link over `..data` (atomic), then adds links for new
 * keys and removes the old directory — the order kubelet's AtomicWriter uses.
 */
export class ConfigMapMount {
  #generation = 0;
  #current: string | undefined;
  constructor(readonly dir: string) {}

  publish(files: Record<string, string>): void {
    const generation = `..2026_11_24_18_00_${String(this.#generation++).padStart(2, "0")}.${process.pid}`;
    mkdirSync(join(this.dir, generation));
    for (const [key, text] of Object.entries(files)) writeFileSync(join(this.dir, generation, key), text);
    symlinkSync(generation, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const key of Object.keys(files)) {
      if (!existsSync(join(this.dir, key))) symlinkSync(join("..data", key), join(this.dir, key));
    }
    if (this.#current) rmSync(join(this.dir, this.#current), { recursive: true });
    this.#current = generation;
  }
}
