import { registerPolicyRoutes } from "./policy-routes.js";
import { registerQuarantineRoutes } from "./quarantine-routes.js";
import { registerRecordRoutes } from "./record-routes.js";
import { registerReportRoutes } from "./report-routes.js";
import { analystRoutes, type AnalystApiDependencies } from "./routes.js";

export type { AnalystApiDependencies } from "./routes.js";

/**
 * The analyst API on the admin port: JSON, every route behind a bearer token (viewer reads;
 * analyst and admin write), every write recorded in the audit trail under the token's name.
 * Identifiers an analyst types are pseudonymised before they are looked up; no answer carries a
 * raw identifier. Refused requests get a problem document and change nothing.
 */
export function registerAnalystApi(deps: AnalystApiDependencies): void {
  const routes = analystRoutes(deps);
  registerQuarantineRoutes(routes);
  registerRecordRoutes(routes);
  registerPolicyRoutes(routes);
  registerReportRoutes(routes);
}
