/** The baseline server as a process of its own: prints `port N` once it listens. */
import { startNoopAuthorization } from "./noop.js";

const server = await startNoopAuthorization();
process.stdout.write(`port ${server.address.split(":").pop()}\n`);
process.on("SIGTERM", () => void server.stop().then(() => process.exit(0)));
