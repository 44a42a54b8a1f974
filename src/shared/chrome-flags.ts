/**
 * Flags every headless Chromium of ours starts with. The background-networking, component-update and sync
 * switches stop Chrome dialling Google's hosts: besides being noise, such traffic has nowhere to go in a
 * closed cluster network and slows startup. --no-sandbox because the pod's own isolation is the boundary.
 */
export const HEADLESS_CHROME_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
