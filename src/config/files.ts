import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, type ConfigIssue } from "./config-error.js";

/** Which ConfigError subclass a failure is reported as (PolicyError, RateLimitConfigError). */
export type ConfigErrorType = new (source: string, issues: ConfigIssue[]) => ConfigError;

/** True when `location` is a directory (the ConfigMap-mount case). */
export async function isDirectory(location: string): Promise<boolean> {
  return stat(location).then(
    (info) => info.isDirectory(),
    () => false,
  );
}

/** Visible YAML files, following symlinks; a dangling link (mid-swap) is not a file. */
export async function yamlFilesIn(dir: string, Failure: ConfigErrorType = ConfigError): Promise<string[]> {
  const entries = await readdir(dir).catch((error: unknown) => {
    throw new Failure(dir, [{ path: "", message: `cannot list the directory: ${describeFsError(error)}` }]);
  });
  const candidates = entries.filter((name) => !name.startsWith("..") && /\.ya?ml$/i.test(name)).sort();
  const isFile = await Promise.all(candidates.map((name) => stat(join(dir, name)).then((s) => s.isFile(), () => false)));
  return candidates.filter((_, i) => isFile[i]);
}

/** `ENOENT` and friends in words; the path is already in the issue's source. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}
