import type { RedisClient } from "./connection.js";
import { StoreUnavailableError } from "../store.js";

interface Listener {
  onMessage: (message: string) => void;
  onResubscribed: () => void;
}

/**
 * One pub/sub connection for every channel the response engine listens on (a connection in
 * subscriber mode can do nothing else, so it is not the command connection).
 *
 * After a reconnect ioredis re-subscribes by itself, but messages published while the
 * connection was down are lost for good. So on every "ready" after the first, this subscribes
 * again itself — its acknowledgement arrives after ioredis' own, so from then on nothing is
 * missed — and only then tells the listeners to reload what they may have missed.
 */
export class RedisSubscriber {
  readonly #client: RedisClient;
  readonly #listeners = new Map<string, Set<Listener>>();
  #closed = false;

  constructor(client: RedisClient) {
    this.#client = client;
    client.on("message", (channel: string, message: string) => {
      for (const listener of this.#listeners.get(channel) ?? []) listener.onMessage(message);
    });
    client.on("ready", () => void this.#resubscribe());
  }

  /**
   * Listens on `channel`. Rejects with StoreUnavailableError when not connected; the listener
   * stays registered and hears `onResubscribed` once the connection is up.
   */
  async listen(channel: string, onMessage: (message: string) => void, onResubscribed: () => void): Promise<() => Promise<void>> {
    const listener: Listener = { onMessage, onResubscribed };
    const listeners = this.#listeners.get(channel) ?? new Set();
    listeners.add(listener);
    this.#listeners.set(channel, listeners);
    const remove = async () => {
      listeners.delete(listener);
      if (listeners.size > 0) return;
      this.#listeners.delete(channel);
      if (this.#client.status === "ready") await this.#client.unsubscribe(channel).catch(() => undefined);
    };
    if (this.#client.status !== "ready") throw new StoreUnavailableError(`redis subscriber not connected (${this.#client.status})`);
    try {
      await this.#client.subscribe(channel);
    } catch (error) {
      throw new StoreUnavailableError(`redis SUBSCRIBE ${channel} failed`, { cause: error });
    }
    return remove;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#client.disconnect();
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#listeners.keys()];
    if (this.#closed || channels.length === 0) return;
    try {
      await this.#client.subscribe(...channels);
    } catch {
      return; // the connection dropped again; the next "ready" retries
    }
    for (const channel of channels) for (const listener of this.#listeners.get(channel) ?? []) listener.onResubscribed();
  }
}
