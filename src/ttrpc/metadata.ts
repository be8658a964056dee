/**
 * ttrpc call metadata: ordered, multi-valued, keys compared lower-cased.
 * containerd puts the namespace here under {@link NAMESPACE_KEY}.
 */
export type Metadata = ReadonlyMap<string, readonly string[]>;

/** The key containerd uses to carry the namespace on ttrpc calls. */
export const NAMESPACE_KEY = "containerd-namespace-ttrpc";

/** Builds metadata from key/value pairs, lower-casing keys and keeping order. */
export function metadataFrom(pairs: Iterable<readonly [string, string]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    const list = out.get(key);
    if (list) list.push(v);
    else out.set(key, [v]);
  }
  return out;
}

/** Flattens metadata into wire pairs. */
export function metadataPairs(md: Metadata | undefined): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = [];
  if (!md) return out;
  for (const [key, values] of md) for (const value of values) out.push({ key, value });
  return out;
}

/** The first value of `key`, or undefined. */
export function metadataGet(md: Metadata, key: string): string | undefined {
  return md.get(key.toLowerCase())?.[0];
}
