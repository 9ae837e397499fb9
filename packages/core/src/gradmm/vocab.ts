/**
 * Tokens the projection may choose (METHOD.md section 3, as the reference): no special tokens, no
 * newlines, at most 17 characters, and word-like after trimming and lower-casing.
 */
import type { Tokenizer } from '../tokenizer/gguf-tokenizer.js';

const WORDLIKE = /^[a-z]+(['-][a-z]+)*$/;
const MAX_CHARS = 17;

export function isAllowedToken(text: string): boolean {
  if (text.includes('\n') || text.includes('\r') || text.length > MAX_CHARS) return false;
  return WORDLIKE.test(text.trim().toLowerCase());
}

export function allowedTokenIds(tokenizer: Tokenizer): number[] {
  const ids: number[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (!tokenizer.info.specialIds.has(id) && isAllowedToken(tokenizer.tokenText(id))) ids.push(id);
  }
  return ids;
}
