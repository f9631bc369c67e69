import { defineSearchAttributeKey } from '@temporalio/common';

/** Registered on the server by `rollback dev` and the test rig (`--search-attribute NAME=Keyword`). */
export const TARGET = defineSearchAttributeKey('RollbackTarget', 'KEYWORD');
export const KIND = defineSearchAttributeKey('RollbackKind', 'KEYWORD');
export const FROM_VERSION = defineSearchAttributeKey('RollbackFromVersion', 'KEYWORD');
export const TO_VERSION = defineSearchAttributeKey('RollbackToVersion', 'KEYWORD');
export const REQUESTED_BY = defineSearchAttributeKey('RollbackRequestedBy', 'KEYWORD');

export const SEARCH_ATTRIBUTES = [TARGET, KIND, FROM_VERSION, TO_VERSION, REQUESTED_BY];
