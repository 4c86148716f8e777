import { measureAttackMemory } from "./memory.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
const redis = await startRedisServer();
const r = await measureAttackMemory(redis.url, { requests: 1_000_000 });
console.log(JSON.stringify(r, null, 1));
await redis.stop();
process.exit(0);
