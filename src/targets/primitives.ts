import { z } from 'zod';

/** Small config types shared by the target schema and the guard schema (no imports of either). */

export const absolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');

export const regexSchema = z.string().refine((p) => {
  try {
    new RegExp(p);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');
