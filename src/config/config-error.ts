/** One problem in a configuration document, located by its path in the document. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * A configuration that cannot be used (a policy, a rate-limit configuration): the file it came
 * from and every issue found in it, so operators fix them all in one go.
 */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: ${issues.map((i) => `${i.path || "(document)"}: ${i.message}`).join("; ")}`);
  }
}
