import { describe, expect, it } from 'vitest';
import { GcPacer, minorGc } from '../../shared/gc-pacer.ts';

const MiB = 1024 * 1024;

describe('GcPacer', () => {
  it('when 10 MiB pass in 64 KiB chunks at a 4 MiB pace, then it collects twice and looks the GC up once', () => {
    let lookups = 0;
    let collections = 0;
    const pacer = new GcPacer(4 * MiB, () => {
      lookups++;
      return () => {
        collections++;
      };
    });

    for (let sent = 0; sent < 10 * MiB; sent += 64 * 1024) pacer.count(64 * 1024);

    expect(collections).toBe(2);
    expect(lookups).toBe(1);
  });

  it('when less than one pace has passed, then the GC is not even looked up', () => {
    let lookups = 0;
    const pacer = new GcPacer(4 * MiB, () => {
      lookups++;
      return undefined;
    });

    pacer.count(4 * MiB - 1);

    expect(lookups).toBe(0);
  });

  it('when no GC can be had, then counting goes on without one', () => {
    const pacer = new GcPacer(MiB, () => undefined);

    expect(() => {
      for (let i = 0; i < 5; i++) pacer.count(MiB);
    }).not.toThrow();
  });
});

describe('minorGc', () => {
  /** 32 MiB of download-sized chunks, already dropped; the array-buffer memory still counted for them. */
  const dropChunks = (): number => {
    const before = process.memoryUsage().arrayBuffers;
    const chunks = Array.from({ length: 512 }, () => new Uint8Array(64 * 1024).fill(1));
    const allocated = process.memoryUsage().arrayBuffers - before;
    return chunks.length === 512 ? allocated : 0; // the chunks are dropped on return
  };

  it('when download chunks have been dropped, then minor GCs free them (without --expose-gc)', () => {
    const gc = minorGc();
    expect(gc).toBeTypeOf('function');
    gc?.();
    const allocated = dropChunks();
    const held = process.memoryUsage().arrayBuffers;

    // The second collection waits for the first one's sweep of buffers, which runs in the background.
    gc?.();
    gc?.();

    expect(allocated).toBeGreaterThan(30 * MiB);
    expect(held - process.memoryUsage().arrayBuffers).toBeGreaterThan(24 * MiB);
  });

  it('when no GC runs, then the dropped chunks are still counted', () => {
    const allocated = dropChunks();
    const held = process.memoryUsage().arrayBuffers;

    expect(allocated).toBeGreaterThan(30 * MiB);
    expect(held - process.memoryUsage().arrayBuffers).toBeLessThan(MiB);
  });
});
