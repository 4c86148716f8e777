import { describe, expect, it } from "vitest";
import { toStruct } from "../protos.js";
import { toAccessLogRecord } from "./converter.js";

describe("toAccessLogRecord", () => {
  it("maps an HTTP entry, including the ext_authz metadata and the UAEX flag", () => {
    const record = toAccessLogRecord({
      common_properties: {
        start_time: { seconds: 1_700_000_000, nanos: 5_000_000 },
        downstream_remote_address: { socket_address: { address: "192.0.2.1", port_value: 1 } },
        response_flags: { unauthorized_details: { reason: "EXTERNAL_SERVICE" } },
        metadata: { filter_metadata: { "envoy.filters.http.ext_authz": toStruct({ action: "block", endpoint: "login" }) } },
      },
      request: { request_id: "r1", request_method: "POST", path: "/api/v1/login" },
      response: { response_code: { value: 403 }, response_headers: { "X-Auth-Result": "failed" } },
    });
    expect(record).toMatchObject({
      requestId: "r1",
      timeMs: 1_700_000_000_005,
      method: "POST",
      path: "/api/v1/login",
      statusCode: 403,
      clientAddress: "192.0.2.1",
      deniedByAuthz: true,
    });
    expect(record.responseHeaders.get("x-auth-result")).toBe("failed");
    expect(record.attribution).toEqual({ action: "block", endpoint: "login" });
  });

  it("reads the attribution Palisade attached to its decision, and ignores metadata that is not Palisade's", () => {
    const entry = (fields: Record<string, unknown>) =>
      toAccessLogRecord({ common_properties: { metadata: { filter_metadata: { "envoy.filters.http.ext_authz": toStruct(fields) } } } });
    expect(entry({ endpoint: "login", action: "step_up", ip_id: "ipX", username_id: "userY", subnet: "192.0.2.0/24" }).attribution).toEqual({
      endpoint: "login",
      action: "step_up",
      ipId: "ipX",
      usernameId: "userY",
      subnet: "192.0.2.0/24",
    });
    expect(entry({ endpoint: "login", action: "dance" }).attribution).toBeUndefined();
    expect(entry({ other: "filter" }).attribution).toBeUndefined();
  });

  it("never throws on empty or malformed entries", () => {
    for (const entry of [undefined, null, {}, { request: null, response: { response_code: { value: Number.NaN } } }]) {
      expect(() => toAccessLogRecord(entry as never)).not.toThrow();
    }
    expect(toAccessLogRecord({}).statusCode).toBeUndefined();
  });
});
