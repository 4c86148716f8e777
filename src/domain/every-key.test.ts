import { describe, expect, expectTypeOf, it } from "vitest";
import type { EveryKey } from "./every-key.js";

interface Sample {
  required: string;
  optional?: number;
}

// The assertions that matter are types: `tsc --noEmit` fails when EveryKey stops forcing a key
// (an unused @ts-expect-error is an error).
describe("EveryKey", () => {
  it("makes every key required, an optional one's value possibly undefined, a required one's not", () => {
    expectTypeOf<EveryKey<Sample>>().toEqualTypeOf<{ required: string; optional: number | undefined }>();
  });

  it("takes a literal that names every key, undefined where there is nothing", () => {
    const sample: EveryKey<Sample> = { required: "a", optional: undefined };
    expect(Object.keys(sample)).toEqual(["required", "optional"]);
  });

  it("refuses a literal that leaves out an optional key, or gives a required one undefined", () => {
    // @ts-expect-error: `optional` is not named.
    const withoutOptional: EveryKey<Sample> = { required: "a" };
    // @ts-expect-error: `required` may not be undefined.
    const undefinedRequired: EveryKey<Sample> = { required: undefined, optional: 1 };
    expect([withoutOptional, undefinedRequired]).toHaveLength(2);
  });
});
