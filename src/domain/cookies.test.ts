import { describe, expect, it } from "vitest";
import { cookieValue, namedCookieValues } from "./cookies.js";

/**
 * Reading the site's cookies from a Cookie header: what identifies a client's session in the
 * session-reads, session-accounts, shared-address and token-binding detectors. An absent
 * cookie and an empty one are the same (no session); a header without any of the named cookies
 * is no session at all.
 */

describe("cookieValue", () => {
  it("finds a cookie by its exact name anywhere in the header, trimmed", () => {
    expect(cookieValue("sid=abc", "sid")).toBe("abc");
    expect(cookieValue("theme=dark;  sid = abc ; lang=en", "sid")).toBe("abc");
    expect(cookieValue("xsid=1; sidx=2", "sid")).toBeUndefined();
    expect(cookieValue("SID=1", "sid")).toBeUndefined();
  });

  it("keeps an equals sign inside the value and takes the first of a repeated name", () => {
    expect(cookieValue("t=a=b==", "t")).toBe("a=b==");
    expect(cookieValue("sid=first; sid=second", "sid")).toBe("first");
  });

  it("gives undefined for an empty value, a pair without a name or equals sign, and no header", () => {
    expect(cookieValue("sid=", "sid")).toBeUndefined();
    expect(cookieValue("sid=  ; other=1", "sid")).toBeUndefined();
    expect(cookieValue("=sid; sid", "sid")).toBeUndefined();
    // A pair without an equals sign is no cookie of a name one letter shorter.
    expect(cookieValue("sidx; theme=dark", "sid")).toBeUndefined();
    expect(cookieValue("", "sid")).toBeUndefined();
    expect(cookieValue(undefined, "sid")).toBeUndefined();
  });

  it("trims a pair's name of whatever String.prototype.trim() removes, and of nothing else", () => {
    // The pair-by-pair reading it replaced, as the reference: split at ";", name and value trimmed.
    const reference = (header: string, name: string) => {
      for (const pair of header.split(";")) {
        const at = pair.indexOf("=");
        if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim() || undefined;
      }
      return undefined;
    };
    // Every header of five characters over pair syntax, some white space trim() removes, one it
    // does not (U+200B), and letters of the names.
    const alphabet = ["s", "x", "=", ";", " ", "\t", "\u00a0", "\u2003", "\ufeff", "\u200b"];
    const size = 5;
    const differing: string[] = [];
    for (let n = 0; n < alphabet.length ** size; n++) {
      let header = "";
      for (let i = 0, rest = n; i < size; i++, rest = Math.floor(rest / alphabet.length)) header += alphabet[rest % alphabet.length];
      for (const name of ["s", "sx"]) if (cookieValue(header, name) !== reference(header, name)) differing.push(`${name} in ${JSON.stringify(header)}`);
    }
    expect(differing).toEqual([]);
  });
});

describe("namedCookieValues", () => {
  it("lists the values in the order named, an empty string for each one absent", () => {
    expect(namedCookieValues("b=2; a=1", ["a", "b"])).toEqual(["1", "2"]);
    expect(namedCookieValues("b=2", ["a", "b", "c"])).toEqual(["", "2", ""]);
  });

  it("is undefined when none of the named cookies has a value", () => {
    expect(namedCookieValues("theme=dark; a=", ["a", "b"])).toBeUndefined();
    expect(namedCookieValues(undefined, ["a"])).toBeUndefined();
    expect(namedCookieValues("a=1", [])).toBeUndefined();
  });
});

describe("cookieValue against the splitting reading it replaced", () => {
  function splitting(header: string | undefined, name: string): string | undefined {
    for (const pair of (header ?? "").split(";")) {
      const at = pair.indexOf("=");
      if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim() || undefined;
    }
    return undefined;
  }

  it("answers the same on every header made of a few awkward pieces", () => {
    const pieces = ["sid", "=", ";", " ", "a", "sid=1", "=sid", "\t", "x=y=z", ";;", "sid =", " = 2"];
    let headers = [""];
    for (let depth = 0; depth < 3; depth++) headers = headers.flatMap((header) => pieces.map((piece) => header + piece));
    for (const header of headers) for (const name of ["sid", "a", "x", ""]) if (cookieValue(header, name) !== splitting(header, name)) expect([header, name, cookieValue(header, name)]).toEqual([header, name, splitting(header, name)]);
  });
});
