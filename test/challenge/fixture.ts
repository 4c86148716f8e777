import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App, AppOptions } from "../../src/app/start.js";
import type { SettingsInput } from "../../src/settings/settings.js";
import { startTestApp } from "../support/app.js";
import { startEnvoyFront, type EnvoyFront } from "../support/envoy-front.js";

export const CHALLENGE_PATH = "/.palisade/challenge";

/**
 * A shop whose /account pages are challenged on every visit (risk 0: the lowest level) and whose
 * /login is a critical endpoint challenged the same way. Anything else is allowed. The risky
 * variant puts every address on a list worth 60 risk points, so the second level applies.
 */
const POLICY = `
apiVersion: palisade.dev/v1alpha1
kind: Policy
metadata: { name: challenge-test, version: c1 }
spec:
  challenge:
    proofOfWork:
      path: ${CHALLENGE_PATH}
      expires: 2m
      pass: 30m
      levels:
        - { risk: 0, attempts: 2000 }
        - { risk: 50, attempts: 4000 }
      supportUrl: https://shop.example/help
      texts:
        de: { heading: "Einen Moment bitte", title: "Browser wird geprüft" }
  endpoints:
    - { name: account, match: { pathPrefix: /account }, sensitivity: low }
    - { name: login, match: { methods: [GET, POST], path: /login }, sensitivity: critical }
  rules:
    - { id: challenge-account, endpoints: [account, login], when: "true", action: challenge, scope: ip }
`;

const RISKY_POLICY = `${POLICY}  reputation:
    lists:
      - { name: everyone, effect: label, cidrs: [0.0.0.0/0], weight: 60 }
`;

/** The key Secret as mounted: 48 random-looking bytes, not text. */
export function challengeKeyFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "palisade-challenge-"));
  const file = join(dir, "challenge.key");
  writeFileSync(file, Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % 256)));
  return file;
}

export function policyFile(risky = false): string {
  const dir = mkdtempSync(join(tmpdir(), "palisade-challenge-policy-"));
  const file = join(dir, "policy.yaml");
  writeFileSync(file, risky ? RISKY_POLICY : POLICY);
  return file;
}

export interface ChallengeRig {
  app: App;
  front: EnvoyFront;
  stop(): Promise<void>;
}

export async function startChallengeRig(overrides: SettingsInput = {}, options: AppOptions = {}): Promise<ChallengeRig> {
  const app = await startTestApp({ policy: policyFile(), challengeKeyFile: challengeKeyFile(), ...overrides }, options);
  const front = await startEnvoyFront({ grpcPort: app.grpcPort, challengePort: app.challengePort, challengePath: CHALLENGE_PATH });
  return {
    app,
    front,
    async stop() {
      await front.close();
      await app.stop();
    },
  };
}
