// Headless Chromium for browser tests: Debian's package (chromium-headless-shell, or chromium), driven
// by playwright-core, which downloads no browser. .ci/run installs the package; on a machine
// without it the tests fail saying how to install it.
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium-headless-shell', '/usr/lib/chromium/chromium', '/usr/bin/chromium'];

/** The browser binary: CHROMIUM_PATH, else the first Debian package binary found. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.CHROMIUM_PATH ?? CANDIDATES.find((candidate) => existsSync(candidate));
  if (!path || !existsSync(path)) {
    throw new Error(
      'No headless Chromium found (looked for CHROMIUM_PATH, /usr/bin/chromium-headless-shell, /usr/bin/chromium). Install it: apt-get install -y chromium-headless-shell (.ci/run does)',
    );
  }
  return path;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath() });
}
