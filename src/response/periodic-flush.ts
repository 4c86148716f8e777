/**
 * Background writing of counts kept in memory (decision statistics, decision records): a flush
 * every `everyMs` on a timer that never keeps the process alive, never two at once, and a last
 * one on stop.
 */
export class PeriodicFlush {
  readonly #run: () => Promise<void>;
  readonly #everyMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushing: Promise<void> | undefined;

  constructor(run: () => Promise<void>, everyMs: number) {
    this.#run = run;
    this.#everyMs = everyMs;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#everyMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Runs a flush now, or joins the one under way. */
  flush(): Promise<void> {
    this.#flushing ??= this.#run().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }
}
