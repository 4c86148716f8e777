import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import maxmind, { type AsnResponse, type CityResponse, type Reader } from "maxmind";
import type { GeoInfo, GeoLookup } from "../domain/geo.js";
import type { Settings } from "../settings/settings.js";
import type { Logger } from "../telemetry/logger.js";

/** Addresses whose answers are kept in each reader's cache. */
const CACHE_ENTRIES = 50_000;

/**
 * GeoIP and ASN look-ups from MaxMind-format databases the operator mounts (GeoIP2/GeoLite2
 * City or Country, ASN, or a compatible vendor's), read with the `maxmind` package: the
 * databases live in memory, and a replaced file is picked up without a restart. The hosting
 * classification comes from a list of ASNs (data/hosting-asns.txt unless the operator names
 * another file).
 */
export class GeoDatabases implements GeoLookup {
  private constructor(
    private readonly city: Reader<CityResponse> | undefined,
    private readonly asn: Reader<AsnResponse> | undefined,
    private readonly hostingAsns: ReadonlySet<number>,
  ) {}

  static async open(settings: Pick<Settings, "geoipCityDatabase" | "geoipAsnDatabase" | "hostingAsnsFile">, logger: Logger): Promise<GeoDatabases | undefined> {
    if (!settings.geoipCityDatabase && !settings.geoipAsnDatabase) return undefined;
    const options = { cache: { max: CACHE_ENTRIES }, watchForUpdates: true, watchForUpdatesNonPersistent: true };
    const open = async <T extends CityResponse | AsnResponse>(file: string | undefined, what: string) => {
      if (!file) return undefined;
      try {
        const reader = await maxmind.open<T>(file, options);
        logger.info({ path: file, type: reader.metadata.databaseType, built: new Date(Number(reader.metadata.buildEpoch)).toISOString() }, `${what} database opened`);
        return reader;
      } catch (error) {
        throw new Error(`cannot open the ${what} database ${file}: ${(error as Error).message}`, { cause: error });
      }
    };
    const [city, asn] = await Promise.all([open<CityResponse>(settings.geoipCityDatabase, "GeoIP"), open<AsnResponse>(settings.geoipAsnDatabase, "ASN")]);
    const hostingFile = settings.hostingAsnsFile ?? shippedHostingList();
    const hosting = parseAsnList(await readFile(hostingFile, "utf8"));
    logger.info({ path: hostingFile, asns: hosting.size }, "hosting ASN list loaded");
    return new GeoDatabases(city, asn, hosting);
  }

  lookup(ip: string): GeoInfo | undefined {
    const place = this.city?.get(ip) ?? undefined;
    const network = this.asn?.get(ip) ?? undefined;
    if (!place && !network) return undefined;
    const country = place?.country?.iso_code ?? place?.registered_country?.iso_code;
    const location = place?.location;
    const asn = network?.autonomous_system_number;
    return {
      country: typeof country === "string" && /^[A-Z]{2}$/.test(country) ? country : undefined,
      latitude: finite(location?.latitude),
      longitude: finite(location?.longitude),
      accuracyKm: finite(location?.accuracy_radius),
      asn: Number.isInteger(asn) ? asn : undefined,
      asnOrganisation: network?.autonomous_system_organization,
      hosting: asn !== undefined && this.hostingAsns.has(asn),
    };
  }
}

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** ASNs from a list file: one per line, "16509" or "AS16509", `#` comments. Bad lines are an error. */
export function parseAsnList(text: string): Set<number> {
  const asns = new Set<number>();
  text.split(/\r?\n/).forEach((line, index) => {
    const entry = line.replace(/#.*$/, "").trim();
    if (entry === "") return;
    const match = /^(?:AS)?(\d{1,10})$/i.exec(entry);
    if (!match || Number(match[1]) > 0xffffffff) throw new Error(`hosting ASN list line ${index + 1}: not an AS number`);
    asns.add(Number(match[1]));
  });
  return asns;
}

/** data/hosting-asns.txt, found above this module (from src/ under tsx, from dist/src/ when built). */
export function shippedHostingList(startDir: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "data", "hosting-asns.txt");
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`data/hosting-asns.txt not found above ${startDir}`);
  }
}
