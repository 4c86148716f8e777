import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NormalisedRequest } from "../domain/request.js";
import { packLogin, travelSignal, unpackLogin } from "./geo.js";

const travel = { maxSpeedKmh: 900, minDistanceKm: 300, retentionMs: 86_400_000, weight: 20, action: "step_up" };
const at = (latitude: number, longitude: number, timeMs: number, accuracyKm = 0) =>
  ({ location: { latitude, longitude, accuracyKm }, timeMs }) as unknown as NormalisedRequest;

describe("packLogin", () => {
  it("keeps place to 0.1° and time to the minute, in a safe integer", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -90, max: 90, noNaN: true }),
        fc.double({ min: -180, max: 180, noNaN: true }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        (latitude, longitude, timeMs) => {
          const packed = packLogin({ latitude, longitude }, timeMs);
          expect(Number.isSafeInteger(packed) && packed > 0).toBe(true);
          const back = unpackLogin(packed)!;
          expect(Math.abs(back.latitude - latitude)).toBeLessThanOrEqual(0.05 + 1e-9);
          expect(Math.abs(back.longitude - longitude)).toBeLessThanOrEqual(0.05 + 1e-9);
          expect(back.timeMs).toBe(Math.floor(timeMs / 60_000) * 60_000);
        },
      ),
    );
    expect(unpackLogin(0)).toBeUndefined();
    expect(unpackLogin(undefined)).toBeUndefined();
  });
});

describe("travelSignal", () => {
  const berlin = packLogin({ latitude: 52.52, longitude: 13.4 }, 0);

  it("fires when the distance over the time is faster than the policy allows", () => {
    const [signal] = travelSignal(berlin, at(-33.87, 151.21, 3_600_000), travel);
    expect(signal).toMatchObject({ code: "account.impossible_travel", threshold: 900, weight: 20, fired: true });
    expect(signal!.value).toBeGreaterThan(15_000);
  });

  it("stays quiet for a possible journey, a short hop, imprecise places and no history", () => {
    expect(travelSignal(berlin, at(-33.87, 151.21, 30 * 3_600_000), travel)).toEqual([]);
    expect(travelSignal(berlin, at(52.4, 13.06, 60_000), travel)).toEqual([]); // Potsdam
    expect(travelSignal(berlin, at(48.14, 11.58, 60_000, 1000), travel)).toEqual([]); // Munich, ±1000 km
    expect(travelSignal(0, at(-33.87, 151.21, 60_000), travel)).toEqual([]);
    expect(travelSignal(berlin, { timeMs: 60_000 } as NormalisedRequest, travel)).toEqual([]);
  });

  it("judges a gap shorter than a minute as a minute, never dividing by zero", () => {
    const [signal] = travelSignal(berlin, at(48.86, 2.35, 0), travel); // Paris, same minute
    expect(Number.isFinite(signal!.value)).toBe(true);
  });
});
