import { attackLabel } from "../../lines.js";
import type { ScanSettings } from "../scenario.js";
import type { Actor } from "../timeline.js";
import { makeRequest, type ActorContext } from "../visit.js";
import { attackSources, attemptTimes, sourceOf } from "./sources.js";

/** What a vulnerability scanner asks for, and what this storefront answers. */
const PROBES: [method: string, path: string, status: number][] = [
  ["GET", "/.env", 404],
  ["GET", "/.git/config", 404],
  ["GET", "/wp-login.php", 404],
  ["GET", "/wp-admin/setup-config.php", 404],
  ["GET", "/phpmyadmin/index.php", 404],
  ["GET", "/server-status", 404],
  ["GET", "/actuator/env", 404],
  ["GET", "/.aws/credentials", 404],
  ["GET", "/config.json", 404],
  ["GET", "/backup.zip", 404],
  ["GET", "/admin/", 404],
  ["GET", "/cgi-bin/luci/;stok=/locale", 404],
  ["GET", "/static/../../../../etc/passwd", 400],
  ["GET", "/api/v1/products/1%27%20OR%20%271%27=%271", 404],
  ["GET", "/api/v1/products/..%2f..%2fadmin", 404],
  ["GET", "/api/v1/search?q=%27%20UNION%20SELECT%20username,password%20FROM%20users--", 200],
  ["GET", "/api/v1/search?q=%3Cscript%3Ealert(1)%3C/script%3E", 200],
  ["POST", "/api/v1/login?debug=true", 400],
  ["GET", "/api/v1/login", 405],
  ["GET", "/api/v2/products/1", 404],
  ["GET", "/graphql?query=%7B__schema%7Btypes%7Bname%7D%7D%7D", 404],
];

export function* vulnerabilityScan(ctx: ActorContext, settings: ScanSettings): Actor {
  const sources = attackSources(ctx, settings, attackLabel("vulnerability_scan"));
  let attempt = 0;
  for (const t of attemptTimes(ctx, settings)) {
    const visit = sourceOf(ctx, sources, attempt, settings);
    const [method, path, status] = PROBES[attempt % PROBES.length]!;
    attempt++;
    const body = method === "POST" ? { username: "admin", password: "admin" } : undefined;
    yield { request: makeRequest(ctx, visit, { timeMs: t, method, path, status, kind: "api", body }) };
  }
}
