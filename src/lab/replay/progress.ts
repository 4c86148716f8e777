import cliProgress from "cli-progress";

export interface Progress {
  update(events: number, bytes: number): void;
  stop(): void;
}

const NONE: Progress = { update: () => undefined, stop: () => undefined };

/** Redraws at most this often: drawing on every event would cost more than the replay. */
const REDRAW_MS = 200;

/**
 * A bar on standard error while a long replay runs, so the report on standard output stays
 * clean for pipes and --json. Only on a terminal: in CI logs or redirected output a bar is noise.
 */
export function progressBar(totalBytes: number | undefined, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return NONE;
  const known = totalBytes !== undefined && totalBytes > 0;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: known ? "replay [{bar}] {percentage}% | {events} events | {rate} events/s" : "replay {events} events | {rate} events/s",
      fps: 1000 / REDRAW_MS,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(known ? totalBytes : 1, 0, { events: 0, rate: 0 });
  let last = 0;
  return {
    update(events, bytes) {
      const now = performance.now();
      if (now - last < REDRAW_MS) return;
      last = now;
      bar.update(known ? bytes : 0, { events, rate: Math.round(events / ((now - started) / 1000)) });
    },
    stop: () => bar.stop(),
  };
}
