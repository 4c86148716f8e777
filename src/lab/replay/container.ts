/**
 * Log lines collected from containers carry the runtime's wrapping around what the program
 * wrote: CRI (containerd, CRI-O) prefixes `2025-12-31T17:37:40.49Z stdout F `, Docker's
 * json-file driver wraps the line as `{"log":"…\n","stream":"stdout","time":"…"}`.
 */
const CRI_PREFIX = /^\d{4}-\d{2}-\d{2}T\S+ (?:stdout|stderr) [FP] /;

/** The line as the program wrote it. */
export function unwrapContainerLine(text: string): string {
  const cri = CRI_PREFIX.exec(text);
  if (cri) return text.slice(cri[0].length);
  if (text.startsWith('{"log":')) {
    try {
      const wrapped = JSON.parse(text) as { log?: unknown; stream?: unknown };
      if (typeof wrapped.log === "string" && typeof wrapped.stream === "string") return wrapped.log.replace(/\r?\n$/, "");
    } catch {
      // not Docker's wrapping after all
    }
  }
  return text;
}
