import { subnetOf, type ParsedAddress } from "../domain/client-address.js";
import { canonicalUsername } from "../domain/username.js";
import type { Pseudonymiser } from "./pseudonymiser.js";

/** How a policy groups addresses into networks (its `client` section). */
export interface SubnetPrefixes {
  subnetPrefixV4: number;
  subnetPrefixV6: number;
}

/** A client as it is stored and logged: keyed pseudonyms of its address and account, its network in clear. */
export interface ClientIdentity {
  ipId?: string;
  subnet?: string;
  usernameId?: string;
}

/**
 * The one derivation of a client's identity (address → network, username → canonical form →
 * pseudonyms), shared by the Check path, access-log outcomes and reported outcomes, so that
 * each lands on the same counters.
 */
export function clientIdentity(
  client: { address?: ParsedAddress; username?: string },
  prefixes: SubnetPrefixes,
  pseudonymiser: Pseudonymiser,
): ClientIdentity {
  const { address } = client;
  const username = canonicalUsername(client.username);
  return {
    ipId: address && pseudonymiser.pseudonymise("ip", address.ip),
    subnet: address && subnetOf(address, prefixes.subnetPrefixV4, prefixes.subnetPrefixV6),
    usernameId: username && pseudonymiser.pseudonymise("username", username),
  };
}
