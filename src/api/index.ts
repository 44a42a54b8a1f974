export * from './generated.js';
export * from './labels.js';
export * from './session.js';
