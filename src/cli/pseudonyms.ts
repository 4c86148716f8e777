import { Command } from "commander";
import { parseAddress } from "../domain/client-address.js";
import { loadKeyRing } from "../privacy/keys.js";
import { HmacPseudonymiser } from "../privacy/pseudonymiser.js";
import { resolveSettings } from "../settings/settings.js";

/**
 * The pseudonymiser `serve` would build: the key from the usual settings (flags aside: the
 * PALISADE_PSEUDONYM_KEY(_FILE) variables or a --settings file). `generated` when none is set.
 */
export async function configuredPseudonymiser(settingsFile: string | undefined, env: NodeJS.ProcessEnv) {
  const settings = resolveSettings({ settings: settingsFile }, env, { policy: "-" });
  const loaded = await loadKeyRing(
    {
      key: settings.pseudonymKey,
      keyFile: settings.pseudonymKeyFile,
      previousKey: settings.pseudonymPreviousKey,
      previousKeyFile: settings.pseudonymPreviousKeyFile,
      graceMs: settings.pseudonymGrace,
    },
    Date.now(),
  );
  return { pseudonymiser: new HmacPseudonymiser(loaded.ring), generated: loaded.generated };
}

/** Where the key comes from, for the help of every command that pseudonymises. */
export const PSEUDONYM_KEY_HELP =
  "The key is the one serve uses: PALISADE_PSEUDONYM_KEY_FILE or PALISADE_PSEUDONYM_KEY, or pseudonymKeyFile / pseudonymKey\n" +
  "in the --settings file (with PALISADE_PSEUDONYM_PREVIOUS_KEY(_FILE) during a rotation). `palisade serve --help` lists every setting.";

/** `palisade pseudonymise --ip ADDR`: the pseudonym an address has in decisions, logs and `replay --clients`. */
export function registerPseudonymiseCommand(program: Command): void {
  program
    .command("pseudonymise")
    .description("Print the pseudonym Palisade gives an IP address under the configured key")
    .requiredOption("--ip <address>", "IPv4 or IPv6 address")
    .option("--settings <file>", "YAML settings file [PALISADE_SETTINGS]")
    .addHelpText("after", `\n${PSEUDONYM_KEY_HELP}`)
    .action(async (flags: { ip: string; settings?: string }) => {
      const address = parseAddress(flags.ip);
      if (!address) throw new Error(`not an IP address: ${flags.ip}`);
      const { pseudonymiser, generated } = await configuredPseudonymiser(flags.settings, process.env);
      if (generated) throw new Error("no pseudonymisation key configured (set PALISADE_PSEUDONYM_KEY or PALISADE_PSEUDONYM_KEY_FILE)");
      process.stdout.write(`${flags.ip} ${pseudonymiser.pseudonymise("ip", address.ip)}\n`);
    });
}
