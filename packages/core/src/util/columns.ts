/** Rows of cells as text lines, each column padded to its widest cell, two spaces apart (a plain-text table). */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i].length))) ?? [];
  return rows.map((r) => r.map((x, i) => x.padEnd(w[i])).join('  ').trimEnd());
}
