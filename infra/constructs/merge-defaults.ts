/**
 * Shallow-merge caller props over construct defaults.
 *
 * Unlike `{ ...defaults, ...props }`, a key the caller passes as `undefined` does not wipe out the
 * default: with optional props, `{ memorySize: undefined }` means "not set", and must keep the default.
 * Every key the caller does set (including `false`, `0`, `''` and empty arrays) wins.
 *
 * Only one level deep: nested option objects (bundling, environment) are merged by the caller of this
 * function, with this function, one level at a time.
 */
export function mergeDefaults<T extends object>(defaults: T, overrides: Partial<T> | undefined): T {
  const merged = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value !== undefined) merged[key] = value;
  }
  return merged as T;
}
