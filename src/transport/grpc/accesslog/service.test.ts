import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import type { AccessLogRecord } from "../../../domain/access-log.js";
import { createAccessLogService, ENTRIES_PER_TURN } from "./service.js";

/** A client-streaming call as grpc-js hands it to the handler: metadata, and data/end events. */
function fakeCall() {
  return Object.assign(new EventEmitter(), { metadata: { getMap: () => ({}), get: () => [] } });
}

const entry = (i: number) => ({ request: { request_id: `r-${i}`, path: "/api/v1/login" }, response: { response_code: { value: 401 } } });

describe("StreamAccessLogs", () => {
  it("records a large batch in slices, letting other work run between them", async () => {
    const recorded: string[] = [];
    const interleaved: number[] = [];
    const service = createAccessLogService({
      outcomes: { record: async (record: AccessLogRecord) => void recorded.push(record.requestId!) },
      onEntry: () => undefined,
      onStreamError: () => undefined,
    });
    const call = fakeCall();
    const answered = new Promise((resolve) => service.StreamAccessLogs(call as never, (error, response) => resolve({ error, response })));
    const count = ENTRIES_PER_TURN * 3 + 5;
    call.emit("data", { http_logs: { log_entry: Array.from({ length: count }, (_, i) => entry(i)) } });
    // Work queued behind the batch (a Check arriving meanwhile) runs before its last slice.
    setImmediate(() => interleaved.push(recorded.length));
    expect(recorded.length).toBe(ENTRIES_PER_TURN);
    call.emit("end");
    expect(await answered).toEqual({ error: null, response: {} });
    expect(recorded).toEqual(Array.from({ length: count }, (_, i) => `r-${i}`));
    expect(interleaved[0]).toBeLessThan(count);
  });

  it("answers a stream only once every slice of its entries is recorded", async () => {
    let recorded = 0;
    const service = createAccessLogService({
      outcomes: { record: async () => void (recorded += 1) },
      onEntry: () => undefined,
      onStreamError: () => undefined,
    });
    const call = fakeCall();
    const answered = new Promise<number>((resolve) => service.StreamAccessLogs(call as never, () => resolve(recorded)));
    call.emit("data", { http_logs: { log_entry: Array.from({ length: ENTRIES_PER_TURN * 2 }, (_, i) => entry(i)) } });
    call.emit("end");
    expect(await answered).toBe(ENTRIES_PER_TURN * 2);
  });
});
