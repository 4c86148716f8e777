/**
 * Keys of the dynamic metadata a CheckResponse carries. Envoy copies it into the ext_authz
 * filter's metadata, hence into access-log entries, where the access-log converter reads the
 * attribution back; these names are what operators see in Envoy's logs.
 */
export const METADATA_KEYS = {
  action: "action",
  endpoint: "endpoint",
  ipId: "ip_id",
  subnet: "subnet",
  usernameId: "username_id",
  fingerprintId: "fingerprint_id",
  deviceId: "device_id",
  headerShape: "header_shape",
  country: "country",
  place: "place",
} as const;
