import type { Clock } from "../domain/clock.js";
import { loadKeyRing } from "../privacy/keys.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import type { Settings } from "../settings/settings.js";
import type { Logger } from "../telemetry/logger.js";

/** How often mounted key files are re-read, so a rotated Secret takes effect without a restart. */
const KEY_REFRESH_MS = 30_000;

export interface RunningPseudonymiser {
  instance: HmacPseudonymiser;
  stop(): void;
}

/** The keyed pseudonymiser from the configured key files, re-read periodically; a random key when none is set. */
export async function startPseudonymiser(settings: Settings, clock: Clock, logger: Logger): Promise<RunningPseudonymiser> {
  const keySettings = {
    key: settings.pseudonymKey,
    keyFile: settings.pseudonymKeyFile,
    previousKey: settings.pseudonymPreviousKey,
    previousKeyFile: settings.pseudonymPreviousKeyFile,
    graceMs: settings.pseudonymGrace,
  };
  const loaded = await loadKeyRing(keySettings, clock.now());
  const instance = new HmacPseudonymiser(loaded.ring);
  if (loaded.generated) {
    logger.warn(
      "no pseudonymisation key configured: generated a random one for this process; pseudonyms change on " +
        "restart and differ between replicas (set PALISADE_PSEUDONYM_KEY_FILE from a Secret)",
    );
    return { instance, stop: () => {} };
  }
  const refresh = setInterval(() => {
    loadKeyRing(keySettings, clock.now()).then(
      (next) => instance.rotate(next.ring),
      (error: unknown) => logger.error({ err: error }, "pseudonymisation key refresh failed; keeping current keys"),
    );
  }, KEY_REFRESH_MS);
  refresh.unref();
  return { instance, stop: () => clearInterval(refresh) };
}
