import type { z } from "zod";

/**
 * A reader for values stored as JSON by this or another version of Palisade: the value when it
 * has the expected shape, undefined otherwise (the caller then ignores it rather than failing).
 */
export function jsonDecoder<T extends z.ZodType>(schema: T): (raw: string) => z.output<T> | undefined {
  return (raw) => {
    try {
      const parsed = schema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  };
}
