/**
 * Where an address is and whose network it belongs to, as a GeoIP database says. Countries,
 * autonomous systems and rough coordinates name networks, not people (docs/design.md, privacy).
 */
export interface GeoInfo {
  /** ISO 3166-1 alpha-2 country code. */
  country?: string;
  /** Coordinates of the network's location, degrees. */
  latitude?: number;
  longitude?: number;
  /** How far off the coordinates may be, km (the database's accuracy radius). */
  accuracyKm?: number;
  /** Autonomous system number of the network the address is routed from. */
  asn?: number;
  /** The autonomous system's organisation, as registered. */
  asnOrganisation?: string;
  /** The autonomous system is a hosting, cloud or data-centre provider (from the hosting ASN list). */
  hosting: boolean;
}

/** A port: the service reads MaxMind-format databases (src/app/geoip.ts); the decision core only asks. */
export interface GeoLookup {
  /** What the databases know about a canonical address (src/domain/client-address.ts); undefined when nothing. */
  lookup(ip: string): GeoInfo | undefined;
}

const EARTH_RADIUS_KM = 6371;

/** Great-circle distance between two points, km (haversine). */
export function distanceKm(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const radians = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * radians;
  const dLon = (b.longitude - a.longitude) * radians;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * radians) * Math.cos(b.latitude * radians) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}
