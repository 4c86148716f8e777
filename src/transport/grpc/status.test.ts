import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { DecisionUnavailableError } from "../../pipeline/pipeline.js";
import { RateLimitRequestError } from "../../ratelimit/request.js";
import { StoreUnavailableError } from "../../state/store.js";
import { grpcStatusFor } from "./status.js";

describe("grpcStatusFor", () => {
  it("answers UNAVAILABLE for what a retry may cure, INVALID_ARGUMENT for bad requests, INTERNAL for bugs", () => {
    expect(grpcStatusFor(new StoreUnavailableError("redis down"))).toBe(status.UNAVAILABLE);
    expect(grpcStatusFor(new DecisionUnavailableError("fail mode error"))).toBe(status.UNAVAILABLE);
    expect(grpcStatusFor(new RateLimitRequestError("no domain"))).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusFor(new TypeError("bug"))).toBe(status.INTERNAL);
    expect(grpcStatusFor(null)).toBe(status.INTERNAL);
    expect(grpcStatusFor({ code: "toString" })).toBe(status.INTERNAL);
  });
});
