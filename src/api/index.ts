export * from './defaults.js';
export * from './generated.js';
export * from './labels.js';
export type * from './report.js';
export * from './session.js';
