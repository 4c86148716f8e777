import ipaddr from "ipaddr.js";
import { appClient, browserClient, type ClientProfile } from "./clients.js";
import type { Random } from "./random.js";
import type { AddressPool, ScenarioSet } from "./scenario.js";

/**
 * The storefront the traffic is about: its accounts (with passwords, so the application's
 * answer to a login can be known), its catalogue and the address space its visitors come
 * from. Addresses are drawn only from documentation, benchmarking and shared (CGNAT) ranges:
 * the generated traffic names no real network.
 */
export interface World {
  host: string;
  loadBalancer: string;
  users: WorldUser[];
  products: number;
  popularProducts: number;
  corporateNats: string[];
  /** A mobile carrier's shared public addresses (a scenario uses the first `cgnatAddresses`). */
  cgnat: string[];
  /** Verified crawlers' addresses (a scenario uses the first `crawlerAddresses`). */
  crawlers: string[];
  pools: Record<AddressPool, readonly string[]>;
}

export interface WorldUser {
  username: string;
  password: string;
  homeIp: string;
  /**
   * The storefront app on this user's phone: its long-lived refresh token and device cookie, and
   * the access token it holds (set by its sessions as they run, in event time).
   */
  app: { refreshToken: string; deviceId: string; accessToken?: { bearer: string; untilMs: number } };
  /**
   * The person's own devices and office, for a returning account (`legit.returningShare`): the
   * same browser on the same computer and phone every visit, the same app, one office NAT.
   */
  habits: UserHabits;
  /** Set by the session that registered the account (`legit.signUpShare`), in event time. */
  registered?: boolean;
}

export interface UserHabits {
  /** Uniform in [0, 1): the account is a returning one when this is below `legit.returningShare`. */
  rank: number;
  desktop: ClientProfile;
  phone: ClientProfile;
  app: ClientProfile;
  office: string;
  /** The device cookies the site set in the computer's and the phone's browser (the app's is `app.deviceId`). */
  desktopDevice: string;
  phoneDevice: string;
  /** Uniform in [0, 1): a new account was created in the window when this is below `legit.signUpShare`. */
  signUpRank: number;
}

export function createWorld(set: ScenarioSet, random: Random): World {
  const pools: Record<AddressPool, readonly string[]> = {
    homes: set.addresses.homes,
    mobile: set.addresses.mobile,
    corporate: set.addresses.corporate,
    residential: set.addresses.residential,
    hosting: set.addresses.hosting,
    crawlers: set.addresses.crawlers,
  };
  const users = Array.from({ length: set.site.users }, (_, i) => ({
    username: usernameFor(random, i),
    password: `${random.pick(WORDS)}-${random.pick(WORDS)}-${random.int(10, 9999)}`,
    homeIp: addressIn(random, pools.homes),
    app: { refreshToken: "", deviceId: "" },
    habits: undefined as unknown as UserHabits,
  }));
  const corporateNats = Array.from({ length: set.legit.corporateNats }, () => addressIn(random, pools.corporate));
  // Drawn from a stream of their own, so adding them left every earlier draw (and fixture) as it was.
  const devices = random.fork();
  for (const user of users) user.app = { refreshToken: devices.hex(40), deviceId: devices.hex(16) };
  const cgnat = Array.from({ length: mostOf(set, "cgnatAddresses") }, () => addressIn(devices, pools.mobile));
  const crawlers = Array.from({ length: mostOf(set, "crawlerAddresses") }, () => addressIn(devices, pools.crawlers));
  // A stream of its own again, drawn last, so every earlier draw stays as it was.
  const habits = random.fork();
  for (const user of users) {
    user.habits = {
      rank: habits.float(),
      desktop: browserClient(habits, false),
      phone: browserClient(habits, true),
      app: appClient(habits),
      office: habits.pick(corporateNats),
      desktopDevice: habits.hex(16),
      phoneDevice: habits.hex(16),
      signUpRank: 0,
    };
  }
  // Last, and a stream of its own, for the same reason.
  const signUps = random.fork();
  for (const user of users) user.habits.signUpRank = signUps.float();
  return {
    host: set.site.host,
    loadBalancer: set.addresses.loadBalancer,
    users,
    products: set.site.products,
    popularProducts: popularProductCount(set.site),
    corporateNats,
    cgnat,
    crawlers,
    pools,
  };
}

/** How many of the catalogue's first ids the shoppers favour (`site.popularShare` of it, at least one). */
export function popularProductCount(site: Pick<ScenarioSet["site"], "products" | "popularShare">): number {
  return Math.max(1, Math.round(site.products * site.popularShare));
}

/** Shared addresses are the world's; a scenario that asks for fewer uses the first of them. */
function mostOf(set: ScenarioSet, field: "cgnatAddresses" | "crawlerAddresses"): number {
  return Math.max(set.legit[field], ...set.scenarios.map((scenario) => scenario.legit?.[field] ?? 0));
}

const FIRST = ["ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jon", "kim", "lena", "mo", "nina", "omar", "paula", "quinn", "rui", "sara", "tom"];
const LAST = ["adams", "berg", "costa", "dubois", "ekman", "fox", "garcia", "huang", "ivanova", "jensen", "khan", "lopez", "moreau", "nowak", "okafor", "park", "rossi", "silva", "tanaka", "weber"];
const WORDS = ["amber", "breeze", "cobalt", "delta", "ember", "falcon", "glacier", "harbor", "indigo", "jasper", "koala", "lumen", "maple", "nectar", "orbit", "pepper", "quartz", "raven", "sierra", "tundra"];
/** Reserved for documentation (RFC 2606): no mailbox here belongs to anyone. */
const MAIL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example"];

function usernameFor(random: Random, index: number): string {
  return `${random.pick(FIRST)}.${random.pick(LAST)}${index}@${random.pick(MAIL_DOMAINS)}`;
}

/** A username from a combo list that has no account here. */
export function unknownUsername(random: Random): string {
  return `${random.pick(FIRST)}${random.pick(LAST)}${random.int(100, 99_999)}@${random.pick(MAIL_DOMAINS)}`;
}

/** A random host address in one of the blocks (network and broadcast addresses avoided). */
export function addressIn(random: Random, blocks: readonly string[]): string {
  const [network, prefix] = ipaddr.parseCIDR(random.pick(blocks));
  const bytes = network.toByteArray();
  const hostBits = bytes.length * 8 - prefix;
  for (let bit = 0; bit < hostBits; bit += 8) {
    const index = bytes.length - 1 - bit / 8;
    const width = Math.min(8, hostBits - bit);
    const low = bit === 0 && hostBits > 2 ? 1 : 0;
    const high = (1 << width) - 1 - (bit === 0 && hostBits > 2 && width === 8 ? 1 : 0);
    bytes[index] = (bytes[index]! & ~((1 << width) - 1)) | random.int(low, high);
  }
  const address = ipaddr.fromByteArray(bytes);
  return address.kind() === "ipv6" ? (address as ipaddr.IPv6).toRFC5952String() : address.toString();
}

/** The single-page app's shell: what a browser loads before it calls the API. */
export const SITE_SHELL = ["/static/app.3f9c2d.js", "/static/app.3f9c2d.css", "/static/fonts/inter.woff2"] as const;

export function popularProduct(world: World, random: Random): number {
  return random.chance(0.7) ? random.int(1, world.popularProducts) : random.int(1, world.products);
}

export const SEARCH_TERMS = [
  "running shoes", "rain jacket", "usb c cable", "coffee grinder", "yoga mat", "desk lamp", "backpack",
  "wireless earbuds", "cast iron pan", "board games", "winter gloves", "water bottle", "phone case",
  "standing desk", "sunglasses", "kids bike", "espresso cups", "hiking boots", "wool socks", "tent",
];
