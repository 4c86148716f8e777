/**
 * Worker-thread side of PolicyValidator (off-thread.ts): parses and validates policy texts and
 * posts back each document or its issues. YAML parsing is the one step of a reload that cannot
 * be cut into slices, and even a small document takes milliseconds of it.
 */
import { parentPort } from "node:worker_threads";
import { PolicyError } from "./compile.js";
import { listFileNames, validatePolicyText } from "./loader.js";

parentPort!.postMessage({ ready: true });
parentPort!.on("message", ({ id, kind, text, source }: { id: number; kind: "validate" | "listFiles"; text: string; source: string }) => {
  try {
    const value = kind === "listFiles" ? listFileNames(text) : validatePolicyText(text, source);
    parentPort!.postMessage({ id, ok: true, value });
  } catch (error) {
    const issues = error instanceof PolicyError ? error.issues : [{ path: "", message: `internal error while loading: ${String(error)}` }];
    parentPort!.postMessage({ id, ok: false, issues });
  }
});
