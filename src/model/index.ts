/**
 * The shared model: kinds, decisions, plans, records, events, failure types and the few rules
 * every part must agree on. Deterministic (no I/O, no Node built-ins), so workflows import it too.
 */
export * from './kinds';
export * from './plan';
export * from './record';
export * from './events';
export * from './failures';
export * from './env-files';
export * from './search-attributes';
export * from './text';
export * from './hosts';
export * from './signatures';
export * from './guard';
export * from './analysis';
export * from './refs';
export * from './group';
