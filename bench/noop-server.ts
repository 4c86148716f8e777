/** The baseline server as a process of its own: prints `port N` once it listens. */
import { startNoopServices } from "./noop.js";

const server = await startNoopServices();
process.stdout.write(`port ${server.address.split(":").pop()}\n`);
process.on("SIGTERM", () => void server.stop().then(() => process.exit(0)));
