import { readdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { isDirectory } from "./files.js";

/**
 * A cheap summary of the files a policy comes from, compared on every poll: when it is unchanged
 * nothing is read. It covers
 *   - the location itself (a directory's mtime moves when kubelet renames `..data`),
 *   - the `..data` link target, which kubelet swaps atomically on every ConfigMap update,
 *   - each visible YAML file and each list file, following symlinks (inode, size, mtime), which
 *     also catches a plain file edited in place or replaced by an editor's rename.
 * A change here only means "read again"; whether the content changed is decided on the content.
 */
export async function policyFingerprint(location: string, listPaths: readonly string[]): Promise<string> {
  const parts = [await statPart(location)];
  if (await isDirectory(location)) {
    parts.push(`..data -> ${await readlink(join(location, "..data")).catch(() => "none")}`);
    const names = await readdir(location).catch(() => [] as string[]);
    const yamlFiles = names.filter((name) => !name.startsWith("..") && /\.ya?ml$/i.test(name)).sort();
    parts.push(...(await Promise.all(yamlFiles.map((name) => statPart(join(location, name))))));
  }
  parts.push(...(await Promise.all(listPaths.map(statPart))));
  return parts.join("\n");
}

async function statPart(path: string): Promise<string> {
  return stat(path).then(
    (s) => `${path} ${s.ino} ${s.size} ${s.mtimeMs}`,
    () => `${path} missing`,
  );
}
