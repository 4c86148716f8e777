import { readSecretFile } from "../privacy/secret-file.js";
import { Webhooks } from "../response/webhooks.js";
import type { Settings } from "../settings/settings.js";

/** Webhook receivers from the settings; none configured, none started. Deliveries are always signed. */
export async function openWebhooks(settings: Settings, onDelivery: ConstructorParameters<typeof Webhooks>[0]["onDelivery"]): Promise<Webhooks | undefined> {
  if (settings.webhookUrls.length === 0) return undefined;
  const secretFile = settings.webhookSecretFile;
  if (!secretFile) throw new Error("webhookUrls are set but webhookSecretFile is not: webhooks are always signed");
  const secret = await readSecretFile(secretFile);
  if (secret.length < 32) throw new Error(`webhook secret in ${secretFile} is ${secret.length} bytes; use at least 32`);
  return new Webhooks({ urls: settings.webhookUrls, secret, onDelivery });
}
