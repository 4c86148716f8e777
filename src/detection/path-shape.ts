/**
 * A number, hexadecimal or a code of eight characters or more with a digit, a code of four or
 * more mixing letters and digits (`SAVE0042`), or a long token (UUID, base64) names one record:
 * `v1` and `2fa` do not.
 */
const RECORD_ID = /^\d+$|^(?=.*\d)[A-Za-z0-9_.~-]{8,}$|^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_]{4,}$|^[A-Za-z0-9_-]{20,}$/;
const PLACEHOLDER = "{id}";

/**
 * The path with its record ids replaced by `{id}`, so `/api/v1/carts/81/items/7` and
 * `/api/v1/carts/93/items/2` are one shape; `replaced` says whether any segment was one (a fixed
 * path is one resource, not a range of ids).
 */
export function shapeOf(path: string): { shape: string; replaced: boolean } {
  const segments = path.split("/");
  let replaced = false;
  for (let i = 0; i < segments.length; i++) {
    if (RECORD_ID.test(segments[i]!)) {
      segments[i] = PLACEHOLDER;
      replaced = true;
    }
  }
  return { shape: segments.join("/"), replaced };
}
