/** See entry-point.js. */
export function entryPoint(): { path: string | null; why?: string };
/** The TypeScript sources' folder (src/). */
export const sources: string;
