import { tmpdir } from "node:os";
import { describe, expect, it, vi } from "vitest";
import { ConfigError } from "./config-error.js";
import { buildSafely, contentKey, HotReloader, unreadable, type ReloadSpec } from "./hot-reload.js";

class FakeError extends ConfigError {
  constructor(source: string, message: string) {
    super(source, [{ path: "", message }]);
  }
}

/** A configuration held in memory: its "file" is a string; "bad" does not build. */
function fakeSpec(file: { text: string | undefined }): ReloadSpec<string, FakeError> {
  return {
    what: "widget configuration",
    location: tmpdir(),
    fingerprint: async () => String(file.text),
    read: async () => {
      const text = file.text;
      if (text === undefined) return unreadable(new FakeError("widgets.yaml", "cannot read"));
      const build = () => {
        if (text === "bad") throw new FakeError("widgets.yaml", "bad widget");
        return text.toUpperCase();
      };
      return { key: contentKey([["widgets.yaml", text]]), source: "widgets.yaml", compile: () => buildSafely(build, (e) => e as FakeError) };
    },
    describe: (value) => ({ widgets: value }),
    describeInForce: (value) => ({ widgetsInForce: value }),
  };
}

describe("HotReloader", () => {
  it("keeps the last good value, names the configuration in its logs, and reports each outcome once", async () => {
    const file = { text: "one" as string | undefined };
    const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const outcomes: boolean[] = [];
    const reloader = new HotReloader(fakeSpec(file), { logger, watch: false, pollIntervalMs: 60_000, onReload: (r) => outcomes.push(r.ok) });
    expect(await reloader.start()).toBe("ONE");
    expect(logger.info).toHaveBeenCalledWith({ source: "widgets.yaml", widgets: "ONE" }, "widget configuration loaded");

    file.text = "bad";
    expect(await reloader.reload()).toMatchObject({ ok: false });
    expect(await reloader.reload()).toMatchObject({ ok: false }); // same content: not reported again
    expect(reloader.current()).toBe("ONE");
    expect(reloader.rejection()?.error.issues).toEqual([{ path: "", message: "bad widget" }]);
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ widgetsInForce: "ONE" }),
      "widget configuration rejected; the last good widget configuration stays in force",
    );

    file.text = undefined;
    expect(await reloader.reload()).toMatchObject({ ok: false, error: { issues: [{ message: "cannot read" }] } });
    file.text = "two";
    expect(await reloader.reload()).toEqual({ ok: true, value: "TWO" });
    expect(reloader.rejection()).toBeUndefined();
    expect(outcomes).toEqual([false, false, true]);
    await reloader.stop();
  });

  it("refuses to start without a valid value, and is not readable before", async () => {
    const reloader = new HotReloader(fakeSpec({ text: "bad" }), { logger: { info() {}, warn() {}, error() {} }, watch: false });
    expect(() => reloader.current()).toThrow(/widget configuration was read before start/);
    await expect(reloader.start()).rejects.toThrow("widgets.yaml: (document): bad widget");
  });
});
