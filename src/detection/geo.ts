import { distanceKm } from "../domain/geo.js";
import type { NormalisedRequest } from "../domain/request.js";
import type { CompiledSignals } from "../policy/signals.js";
import type { Signal } from "./signal.js";

type Travel = NonNullable<NonNullable<CompiledSignals["geo"]>["impossibleTravel"]>;

/** Addresses in a hosting or data-centre network: people rarely log in from a server. */
export function networkSignals(request: NormalisedRequest, signals: CompiledSignals): Signal[] {
  if (!request.hosting) return [];
  const detail = request.asn !== undefined ? `AS${request.asn}` : undefined;
  return [{ code: "network.hosting", value: 1, weight: signals.geo?.hosting?.weight ?? 0, fired: true, detail }];
}

/**
 * The place and time of a login packed into one safe integer for the store's value.swap:
 * 0.1° of latitude and longitude (about 11 km, finer than a GeoIP city's accuracy) and the
 * minute. 0 stays "nothing stored".
 */
export function packLogin(location: { latitude: number; longitude: number }, timeMs: number): number {
  const latitude = Math.round((clamp(location.latitude, -90, 90) + 90) * 10);
  const longitude = Math.round((clamp(location.longitude, -180, 180) + 180) * 10);
  const minute = Math.floor(Math.max(0, timeMs) / 60_000);
  return (minute * 1801 + latitude) * 3601 + longitude + 1;
}

export function unpackLogin(value: number | undefined): { latitude: number; longitude: number; timeMs: number } | undefined {
  if (value === undefined || !Number.isSafeInteger(value) || value <= 0) return undefined;
  const packed = value - 1;
  const longitude = (packed % 3601) / 10 - 180;
  const rest = Math.floor(packed / 3601);
  const latitude = (rest % 1801) / 10 - 90;
  return { latitude, longitude, timeMs: Math.floor(rest / 1801) * 60_000 };
}

/**
 * Impossible travel: this login attempt is farther from the account's last successful login
 * than `maxSpeedKmh` allows in the time between them. The accuracy radius of the current place
 * is taken off the distance, so imprecise placements do not fire.
 */
export function travelSignal(stored: number | undefined, request: NormalisedRequest, travel: Travel): Signal[] {
  const last = unpackLogin(stored);
  const here = request.location;
  if (!last || !here) return [];
  const distance = Math.max(0, distanceKm(last, here) - here.accuracyKm);
  if (distance < travel.minDistanceKm) return [];
  // The stored time is cut to the minute; a minute is also the shortest gap judged.
  const hours = Math.max(60_000, request.timeMs - last.timeMs) / 3_600_000;
  const speed = Math.round(distance / hours);
  if (speed <= travel.maxSpeedKmh) return [];
  return [{
    code: "account.impossible_travel",
    value: speed,
    threshold: travel.maxSpeedKmh,
    weight: travel.weight,
    fired: true,
    detail: `${Math.round(distance)} km since the last login ${Math.round(hours * 60)} min before`,
  }];
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
