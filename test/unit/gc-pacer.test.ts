import { spawnSync } from 'node:child_process';
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
  it('when the process runs without --expose-gc, then there is no GC to call and no V8 flag is changed', () => {
    expect(typeof globalThis.gc).toBe('undefined');

    expect(minorGc()).toBeUndefined();
    expect(typeof globalThis.gc).toBe('undefined');
  });

  // A child started as Lambda's bootstrap starts Node (--expose-gc); 32 MiB of download-sized
  // chunks dropped, then the array-buffer memory still counted with and without minor GCs.
  const child = (collect: boolean) => {
    const script = `
      import { minorGc } from ${JSON.stringify(new URL('../../shared/gc-pacer.ts', import.meta.url).href)};
      const gc = minorGc();
      gc?.();
      const before = process.memoryUsage().arrayBuffers;
      const allocated = (() => {
        const chunks = Array.from({ length: 512 }, () => new Uint8Array(64 * 1024).fill(1));
        return chunks.length === 512 ? process.memoryUsage().arrayBuffers - before : 0;
      })(); // the chunks are dropped on return
      const held = process.memoryUsage().arrayBuffers;
      if (${collect}) { gc?.(); gc?.(); } // the second waits for the first one's background sweep
      console.log(JSON.stringify({ gc: typeof gc, allocated, freed: held - process.memoryUsage().arrayBuffers }));
    `;
    const out = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    if (out.status !== 0) throw new Error(out.stderr);
    return JSON.parse(out.stdout) as { gc: string; allocated: number; freed: number };
  };

  it('when download chunks have been dropped in a process with --expose-gc, then minor GCs free them', () => {
    const { gc, allocated, freed } = child(true);

    expect(gc).toBe('function');
    // V8 may collect some while they are allocated (external memory pressure): most remain.
    expect(allocated).toBeGreaterThan(16 * MiB);
    expect(freed).toBeGreaterThan(allocated * 0.75);
  });

  it('when no GC runs, then the dropped chunks are still counted', () => {
    const { allocated, freed } = child(false);

    expect(allocated).toBeGreaterThan(16 * MiB);
    expect(freed).toBeLessThan(MiB);
  });
});
