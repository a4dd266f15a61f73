// Pure interpolation: smooth heatmaps from a grid (bilinear), values along a path, and linear blends
// between replay checkpoints. No DOM here, so vitest pins every number.

/** Bilinear value of z[i * nB + j] at fractional grid coordinates (fi, fj), clamped to the grid. NaN
 * corners do not leak: the finite corners are averaged with renormalised weights, and a point whose
 * nearest corner is NaN is NaN (a gap stays a gap). */
export function bilinear(z: ArrayLike<number>, nA: number, nB: number, fi: number, fj: number): number {
  const ci = Math.min(nA - 1, Math.max(0, fi));
  const cj = Math.min(nB - 1, Math.max(0, fj));
  const i0 = Math.min(nA - 2, Math.floor(ci));
  const j0 = Math.min(nB - 2, Math.floor(cj));
  if (nA < 2 || nB < 2) {
    return z[Math.round(nA < 2 ? 0 : ci) * nB + Math.round(nB < 2 ? 0 : cj)];
  }
  const ti = ci - i0;
  const tj = cj - j0;
  const near = z[Math.round(ci) * nB + Math.round(cj)];
  if (!Number.isFinite(near)) return NaN;
  const corners = [
    [z[i0 * nB + j0], (1 - ti) * (1 - tj)], [z[(i0 + 1) * nB + j0], ti * (1 - tj)],
    [z[i0 * nB + j0 + 1], (1 - ti) * tj], [z[(i0 + 1) * nB + j0 + 1], ti * tj],
  ];
  let sum = 0;
  let wsum = 0;
  for (const [v, w] of corners) {
    if (Number.isFinite(v) && w > 0) {
      sum += v * w;
      wsum += w;
    }
  }
  return wsum > 0 ? sum / wsum : near;
}

/** RGBA pixels (row 0 at the top) of a w x h heatmap of z over the grid: x along i (alpha), y up along j
 * (beta), each pixel centre sampled bilinearly; colours from a 256-entry LUT over [min, max]; NaN grey. */
export function heatmapPixels(
  z: ArrayLike<number>, nA: number, nB: number, w: number, h: number, min: number, max: number,
  lut: Uint8ClampedArray,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  const span = max - min || 1;
  for (let py = 0; py < h; py++) {
    const fj = (1 - (py + 0.5) / h) * (nB - 1);
    for (let px = 0; px < w; px++) {
      const fi = ((px + 0.5) / w) * (nA - 1);
      const v = bilinear(z, nA, nB, fi, fj);
      const o = 4 * (py * w + px);
      if (Number.isFinite(v)) {
        const k = 3 * Math.min(255, Math.max(0, Math.round(((v - min) / span) * 255)));
        out[o] = lut[k];
        out[o + 1] = lut[k + 1];
        out[o + 2] = lut[k + 2];
      } else {
        out[o] = out[o + 1] = out[o + 2] = 128;
      }
      out[o + 3] = 255;
    }
  }
  return out;
}

/** The row-interpolated point of a table [T, cols] at fractional row p (clamped): used for the replay
 * marker between two checkpoints. */
export function rowAt(table: ArrayLike<number>, cols: number, p: number): number[] {
  const T = Math.floor(table.length / cols);
  if (T === 0) return [];
  const c = Math.min(T - 1, Math.max(0, p));
  const k = Math.min(T - 2, Math.floor(c));
  if (T === 1) return Array.from({ length: cols }, (_, q) => table[q]);
  const t = c - k;
  return Array.from({ length: cols }, (_, q) => {
    const a = table[k * cols + q];
    const b = table[(k + 1) * cols + q];
    return t === 0 ? a : t === 1 ? b : a + t * (b - a);
  });
}

/** The index of the last entry of a sorted list that is <= x (0 when x precedes them all). */
export function lastAtOrBefore(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  if (hi < 0 || x < sorted[0]) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sorted[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
