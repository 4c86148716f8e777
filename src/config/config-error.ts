/** One problem in a configuration document, located by its path in the document. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Bounds on what an error carries, so that no document can make an answer or a log line large. */
export const ISSUE_LIMITS = { count: 50, messageChars: 300, pathChars: 200 } as const;

/**
 * A configuration that cannot be used (a policy, a rate-limit configuration): the file it came
 * from and every issue found in it, so operators fix them all in one go — up to ISSUE_LIMITS:
 * past them, messages are cut and the remaining issues counted.
 */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];

  constructor(
    readonly source: string,
    issues: ConfigIssue[],
  ) {
    const bounded = boundIssues(issues);
    super(`${source}: ${bounded.map((i) => `${i.path || "(document)"}: ${i.message}`).join("; ")}`);
    this.issues = bounded;
  }
}

function boundIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const kept = issues.slice(0, ISSUE_LIMITS.count).map((issue) => ({
    path: cut(issue.path, ISSUE_LIMITS.pathChars),
    message: cut(issue.message, ISSUE_LIMITS.messageChars),
  }));
  const more = issues.length - kept.length;
  return more > 0 ? [...kept, { path: "", message: `and ${more} more issue${more === 1 ? "" : "s"}` }] : kept;
}

function cut(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
