import { defaultConfig } from '../src/operator/config.js';
import { type LaunchedChromium, launchChromium } from '../src/testing/chromium.js';

export type BenchChrome = LaunchedChromium;

/**
 * Chromium as a browser pod runs it (the operator's default flags, the pod's window size and first page), but
 * on the host's loopback with DevTools on a free port: the baseline every benchmark compares against.
 */
export function launchChrome(): Promise<BenchChrome> {
  return launchChromium({
    flags: defaultConfig.chrome.flags,
    args: ['--window-size=1920,1080', 'about:blank'],
  });
}
