/**
 * T with every key required, an optional one's value possibly undefined (T[K] of an optional key
 * includes undefined): a literal of this type has to name each key, so a key later added to T
 * breaks the build wherever T is built without it, instead of being dropped there silently. For
 * the objects built field by field from others (a decision from decide()'s draft, a login
 * attempt's context from its Check or from its access-log entry).
 */
export type EveryKey<T> = { [K in keyof Required<T>]: T[K] };
