// Collects the garbage of a long stream as it goes, instead of when V8 notices it.
//
// Every chunk of a download is a fresh ArrayBuffer (the socket read, undici's body chunk): 400 MiB
// streamed allocates 400 MiB or more, nearly all of it dead a moment later. That memory is outside
// the JS heap, so it hardly fills the young generation: V8 frees it at its next scavenge, or once
// external memory has grown by its soft limit (64 MiB); and Lambda's bootstrap gives the young
// generation a twentieth of the function's memory (51 MiB semi-spaces at 1024 MB), so scavenges are
// rare. Measured (bench/README.md, "archive-rss"): 45-70 MB of dead buffers at the peak. A minor
// GC every 2 MiB streamed keeps them under about 10 MB, for about 0.2 ms each (40 ms per 400 MiB).
export type MinorGc = () => void;

/**
 * The engine's minor GC when the process runs with --expose-gc, as Lambda's Node bootstrap starts
 * it (it passes --expose-gc with the heap flags); undefined otherwise (a laptop run), where streams
 * rely on V8 alone. V8 flags are not changed at run time: Node calls that undefined behaviour.
 */
export function minorGc(): MinorGc | undefined {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') return undefined;
  return () => {
    gc({ type: 'minor' });
  };
}

/** Calls `collect` once per `everyBytes` counted (across every stream that reports to it). */
export class GcPacer {
  readonly #everyBytes: number;
  readonly #resolve: () => MinorGc | undefined;
  #collect: MinorGc | undefined | null = null;
  #pending = 0;

  /** `collect` is looked up at the first count, so that importing this module changes nothing. */
  constructor(everyBytes: number, collect: () => MinorGc | undefined) {
    this.#everyBytes = everyBytes;
    this.#resolve = collect;
  }

  /** Counts bytes just streamed; collects when another `everyBytes` have passed. */
  count(bytes: number): void {
    this.#pending += bytes;
    if (this.#pending < this.#everyBytes) return;
    this.#pending %= this.#everyBytes;
    if (this.#collect === null) this.#collect = this.#resolve();
    this.#collect?.();
  }
}

/** One pacer for the whole process: concurrent streams allocate from the same heap. */
export const streamGcPacer = new GcPacer(2 * 1024 * 1024, minorGc);
