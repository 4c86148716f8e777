import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/**
 * Who may call the admin API. `reporter` is for identity providers that report login outcomes
 * and may do nothing else; viewer < analyst < admin for people.
 */
export const ROLES = ["reporter", "viewer", "analyst", "admin"] as const;
export type Role = (typeof ROLES)[number];

const tokensFile = z
  .object({
    tokens: z
      .array(
        z
          .object({
            name: z.string().min(1).describe("Identity recorded in the audit trail"),
            role: z.enum(ROLES),
            token: z.string().min(24, "tokens must be at least 24 characters"),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export interface Caller {
  name: string;
  role: Role;
}

interface TokenEntry extends Caller {
  digest: Buffer;
}

/** YAML errors quote the lines around them; of a tokens file only the position may be told. */
function parseTokensYaml(text: string, path: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    const position = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    throw new Error(`${path}: not valid YAML${position ? ` at line ${position.line}, column ${position.col}` : ""}`);
  }
}

/** Bearer tokens from a mounted Secret (YAML `tokens: [{name, role, token}]`). */
export class TokenAuthenticator {
  private constructor(private readonly entries: TokenEntry[]) {}

  /** Knows no token: every route that names roles answers 401. */
  static none(): TokenAuthenticator {
    return new TokenAuthenticator([]);
  }

  static async fromFile(path: string | undefined): Promise<TokenAuthenticator> {
    if (!path) return TokenAuthenticator.none();
    const parsed = tokensFile.safeParse(parseTokensYaml(await readFile(path, "utf8"), path) ?? {});
    if (!parsed.success) {
      throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    }
    return new TokenAuthenticator(parsed.data.tokens.map((t) => ({ name: t.name, role: t.role, digest: digest(t.token) })));
  }

  /**
   * The caller a request's bearer token belongs to. Digests of equal length are compared in
   * constant time, and every entry is compared, so timing says nothing about which token or how
   * much of it matched.
   */
  authenticate(headers: IncomingHttpHeaders): Caller | undefined {
    const header = headers.authorization;
    const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) return undefined;
    const presented = digest(match[1]!);
    let found: Caller | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented)) found = { name: entry.name, role: entry.role };
    }
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
