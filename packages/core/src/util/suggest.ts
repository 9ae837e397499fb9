/** "Did you mean": the closest known name to a typo, if it is close enough to be a likely slip. */

/** Levenshtein distance (insertions, deletions, substitutions), O(a*b) with one row. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** The known name nearest to `typo` (at most a third of its length away, min 2 edits), or undefined. */
export function closest(typo: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(typo) && typo.length >= 3 ? 1 : editDistance(typo, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(typo.length / 3)) ? best : undefined;
}

/** " (did you mean X?)" or "". */
export const didYouMean = (typo: string, known: readonly string[], show: (s: string) => string = (s) => s): string => {
  const c = closest(typo, known);
  return c === undefined ? '' : ` (did you mean ${show(c)}?)`;
};
