import { randomUUID } from "node:crypto";
import {
  assertValidMapKey,
  assertValidMapWrite,
  type MapChange,
  type MapRemoval,
  type MapSnapshot,
  type MapSubscription,
  type MapVersion,
  type MapWrite,
  type SharedMapStore,
} from "./shared-map.js";

interface Entry {
  value: string;
  deadlineMs: number;
}

/**
 * The shared map of a single replica: the same numbering and expiry as the Redis one, in one
 * process. Changes are announced synchronously, before the writing call resolves, so the
 * replica's own copy is current as soon as a write returns. Expiry runs on `clock` (the local
 * clock), like Redis TTLs.
 */
export class MemorySharedMap implements SharedMapStore {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(change: MapChange) => void>();
  readonly #clock: () => number;
  readonly #epoch = randomUUID();
  #seq = 0;

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? (() => Date.now());
  }

  async put(key: string, value: string, ttlMs: number): Promise<MapWrite> {
    assertValidMapWrite(key, value, ttlMs);
    return this.#write(key, value, ttlMs);
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<MapWrite & { created: boolean }> {
    assertValidMapWrite(key, value, ttlMs);
    const existing = this.#live(key);
    if (existing) return { created: false, value: existing.value, ...this.#version() };
    return { created: true, ...this.#write(key, value, ttlMs) };
  }

  async remove(key: string, expected?: string): Promise<MapRemoval> {
    assertValidMapKey(key);
    const existing = this.#live(key);
    if (!existing || (expected !== undefined && existing.value !== expected)) return { removed: false, ...this.#version() };
    this.#entries.delete(key);
    this.#seq += 1;
    this.#announce({ op: "remove", key, ...this.#version() });
    return { removed: true, value: existing.value, ...this.#version() };
  }

  async snapshot(): Promise<MapSnapshot> {
    const now = this.#clock();
    const entries = new Map<string, { value: string; ttlMs: number }>();
    for (const key of [...this.#entries.keys()]) {
      const entry = this.#live(key);
      if (entry) entries.set(key, { value: entry.value, ttlMs: entry.deadlineMs - now });
    }
    return { entries, ...this.#version() };
  }

  async version(): Promise<MapVersion> {
    return this.#version();
  }

  async subscribe(onChange: (change: MapChange) => void): Promise<MapSubscription> {
    this.#listeners.add(onChange);
    return { close: async () => void this.#listeners.delete(onChange) };
  }

  #write(key: string, value: string, ttlMs: number): MapWrite {
    this.#entries.set(key, { value, deadlineMs: this.#clock() + ttlMs });
    this.#seq += 1;
    this.#announce({ op: "put", key, value, ttlMs, ...this.#version() });
    return { value, ...this.#version() };
  }

  /** The entry if it has not expired; an expired one is dropped on the way. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.deadlineMs <= this.#clock()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #version(): MapVersion {
    return { epoch: this.#epoch, seq: this.#seq };
  }

  #announce(change: MapChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
