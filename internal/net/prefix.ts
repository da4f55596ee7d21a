/** The text `address/prefix` of either family, split and checked before the family's own masking. */

/** How {@link parsePrefixText} reads one family's text. */
export interface PrefixTextOptions<T> {
  /** Longest prefix length of the family (32 or 128); a bare address reads as this prefix. */
  readonly maxPrefix: number;
  /** Accept a plain address without `/n`. */
  readonly allowBareAddress: boolean | undefined;
  /** The family's address parser: the value, or undefined when the text is not an address. */
  readonly parseAddress: (text: string) => T | undefined;
}

/**
 * Reads `address/n`: the address with `parseAddress`, and a prefix length from 0 to `maxPrefix`
 * written without leading zeros or spaces. Returns undefined when invalid.
 */
export function parsePrefixText<T>(
  text: string,
  { maxPrefix, allowBareAddress, parseAddress }: PrefixTextOptions<T>,
): { address: T; prefix: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!allowBareAddress) return undefined;
    const address = parseAddress(text);
    return address === undefined ? undefined : { address, prefix: maxPrefix };
  }
  const address = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^(?:0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= maxPrefix ? { address, prefix } : undefined;
}
