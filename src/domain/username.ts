/** Longer input is cut before normalising: no account name is this long, and the cut bounds the work. */
const MAX_USERNAME_LENGTH = 256;

/** NFKC and case folding make `Alice`, `ALICE` and full-width `Ａｌｉｃｅ` one account. */
export function canonicalUsername(value: string | undefined): string | undefined {
  const canonical = value?.slice(0, MAX_USERNAME_LENGTH).normalize("NFKC").toLowerCase().trim();
  return canonical || undefined;
}
