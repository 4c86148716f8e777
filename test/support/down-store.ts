import { StoreUnavailableError, type Store } from "../../src/state/store.js";

/** A store that is always down, as Redis is during an outage without a local fallback: every call fails. */
export const downStore: Store = {
  kind: "down",
  apply: async () => {
    throw new StoreUnavailableError("down");
  },
  observeBaseline: async () => {
    throw new StoreUnavailableError("down");
  },
  ping: async () => false,
  close: async () => {},
};
