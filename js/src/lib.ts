// Pure functions of the front end: decoding grids, scaling, colormaps, meshes and contours.
// No DOM and no three.js here, so vitest can pin every number.

export type Range = [number, number];

/** Float32 values from what a widget model holds for a Bytes trait (DataView, ArrayBuffer, typed array,
 * or, in saved state, a base64 string). Empty input gives an empty array. */
/** A short fingerprint of a value from the kernel (binary buffers by their bytes, the rest as JSON), to tell
 * whether new state carries new numbers or only, say, a new status. */
export function fingerprint(v: unknown): string {
  if (v == null) return "-";
  if (typeof v === "string") return `s${v.length}:${hashBytes(new TextEncoder().encode(v))}`;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const b = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return `b${b.length}:${hashBytes(b)}`;
  }
  if (Array.isArray(v)) return `[${v.map(fingerprint).join(",")}]`;
  if (typeof v === "object") {
    return `{${Object.keys(v as object).sort().map((k) => `${k}=${fingerprint((v as any)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** FNV-1a over the bytes (32 bits, as 8 hex digits). */
export function hashBytes(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

export function decodeFloat32(buf: unknown): Float32Array {
  if (buf == null) return new Float32Array(0);
  if (typeof buf === "string") {
    const bin = atob(buf);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer, 0, Math.floor(bytes.length / 4));
  }
  if (buf instanceof DataView) {
    const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    return new Float32Array(copy, 0, Math.floor(buf.byteLength / 4));
  }
  if (buf instanceof ArrayBuffer) return new Float32Array(buf.slice(0), 0, Math.floor(buf.byteLength / 4));
  if (ArrayBuffer.isView(buf)) {
    const v = buf as ArrayBufferView;
    const copy = v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer;
    return new Float32Array(copy, 0, Math.floor(v.byteLength / 4));
  }
  throw new Error(`cannot decode grid bytes from ${Object.prototype.toString.call(buf)}`);
}

export interface Scaled {
  z: Float32Array; // plotted values, NaN where not finite
  min: number; // finite range of z
  max: number;
  nonFinite: number; // NaN/inf inputs (drawn as gaps)
  clipped: number; // inputs at or below the reference on a log scale (drawn at the floor)
}

/** What is plotted: the loss minus a reference (E* for Deep Ritz), optionally log10.
 * On a log scale values <= reference are clipped to the smallest positive difference / 10. */
export function scaleValues(values: Float32Array, scale: "linear" | "log", reference: number | null): Scaled {
  const ref = reference ?? 0;
  const n = values.length;
  const z = new Float32Array(n);
  let nonFinite = 0;
  let clipped = 0;
  let minPos = Infinity;
  for (let i = 0; i < n; i++) {
    const d = values[i] - ref;
    if (Number.isFinite(d) && d > 0 && d < minPos) minPos = d;
  }
  const floor = Number.isFinite(minPos) ? minPos / 10 : 1e-30;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      z[i] = NaN;
      nonFinite++;
      continue;
    }
    let d = v - ref;
    if (scale === "log") {
      if (d <= 0) {
        d = floor;
        clipped++;
      }
      d = Math.log10(d);
    }
    if (!Number.isFinite(d)) {
      // a finite loss whose plotted value overflows (huge minus reference)
      z[i] = NaN;
      nonFinite++;
      continue;
    }
    z[i] = d;
    if (d < min) min = d;
    if (d > max) max = d;
  }
  if (!Number.isFinite(min)) {
    min = 0;
    max = 1;
  }
  return { z, min, max, nonFinite, clipped };
}

/** The notes on a grid's gaps: the cells still being computed (``pending``, a grid whose tiles are landing
 * from a dask cluster) and the other NaN/inf values, which are the landscape's own. Both are drawn as gaps. */
export function gapNotes(nonFinite: number, pending: number, total: number): string[] {
  const notes: string[] = [];
  const waiting = Math.max(0, Math.min(pending, nonFinite));
  if (pending > 0) notes.push(`${total - pending} of ${total} points computed: the rest still on the cluster (gaps)`);
  if (nonFinite - waiting > 0) notes.push(`${nonFinite - waiting} point(s) NaN/inf: drawn as gaps`);
  return notes;
}

const COLORMAPS: Record<string, number[][]> = {
  viridis: [
    [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
  ],
  // cividis (Nuñez, Anderton & Renslow 2018): designed to read the same with colour-vision deficiency
  cividis: [
    [0, 34, 78], [18, 53, 112], [59, 73, 108], [87, 92, 109], [112, 113, 115],
    [138, 134, 120], [165, 157, 117], [195, 183, 106], [225, 210, 86], [254, 232, 56],
  ],
  magma: [
    [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
    [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191],
  ],
  coolwarm: [[59, 76, 192], [98, 130, 234], [141, 176, 254], [184, 208, 249], [221, 221, 221],
    [245, 196, 173], [244, 154, 123], [222, 96, 77], [180, 4, 38]],
  gray: [[20, 20, 20], [235, 235, 235]],
};
export const COLORMAP_NAMES = Object.keys(COLORMAPS);

/** RGB in [0, 1] for t in [0, 1] (clamped) by piecewise-linear interpolation of the control points. */
export function colormap(name: string, t: number): [number, number, number] {
  const pts = COLORMAPS[name] ?? COLORMAPS.viridis;
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (pts.length - 1);
  const i = Math.min(pts.length - 2, Math.floor(x));
  const f = x - i;
  const a = pts[i];
  const b = pts[i + 1];
  return [0, 1, 2].map((k) => (a[k] + f * (b[k] - a[k])) / 255) as [number, number, number];
}

export interface SurfaceMesh {
  positions: Float32Array; // nA * nB vertices, (x, y, h): x, y in [-1, 1], h in [0, height]
  colors: Float32Array;
  index: Uint32Array; // triangles whose three corners are finite
}

/** Vertex positions, colors and triangle indices for a grid z[i * nB + j] (i over alpha, j over beta).
 * Cells touching a non-finite value are left out: gaps, not spikes. */
export function buildSurface(s: Scaled, nA: number, nB: number, height: number, cmap: string): SurfaceMesh {
  const positions = new Float32Array(nA * nB * 3);
  const colors = new Float32Array(nA * nB * 3);
  const span = s.max - s.min || 1;
  for (let i = 0; i < nA; i++) {
    for (let j = 0; j < nB; j++) {
      const k = i * nB + j;
      const v = s.z[k];
      const t = Number.isFinite(v) ? (v - s.min) / span : 0;
      positions[3 * k] = nA > 1 ? -1 + (2 * i) / (nA - 1) : 0;
      positions[3 * k + 1] = nB > 1 ? -1 + (2 * j) / (nB - 1) : 0;
      positions[3 * k + 2] = t * height;
      const c = Number.isFinite(v) ? colormap(cmap, t) : [0.5, 0.5, 0.5];
      colors.set(c, 3 * k);
    }
  }
  const tri: number[] = [];
  for (let i = 0; i < nA - 1; i++) {
    for (let j = 0; j < nB - 1; j++) {
      const a = i * nB + j, b = (i + 1) * nB + j, c = (i + 1) * nB + j + 1, d = i * nB + j + 1;
      if ([a, b, c, d].every((q) => Number.isFinite(s.z[q]))) tri.push(a, b, c, a, c, d);
    }
  }
  return { positions, colors, index: Uint32Array.from(tri) };
}

/** n evenly spaced levels strictly inside (min, max). */
export function contourLevels(min: number, max: number, n: number): number[] {
  if (!(max > min) || n < 1) return [];
  return Array.from({ length: n }, (_, k) => min + ((k + 1) * (max - min)) / (n + 1));
}

/** Marching squares: iso-line segments of z at `level`, in fractional grid coordinates
 * [i1, j1, i2, j2, ...]. Cells with a non-finite corner produce nothing. */
export function contourSegments(z: Float32Array, nA: number, nB: number, level: number): number[] {
  const out: number[] = [];
  const at = (i: number, j: number) => z[i * nB + j];
  const lerp = (p: number, q: number) => (level - p) / (q - p);
  for (let i = 0; i < nA - 1; i++) {
    for (let j = 0; j < nB - 1; j++) {
      const v = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
      if (!v.every(Number.isFinite)) continue;
      const corners: [number, number][] = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
      const pts: [number, number][] = [];
      for (let e = 0; e < 4; e++) {
        const p = v[e], q = v[(e + 1) % 4];
        if ((p < level) !== (q < level)) {
          const t = lerp(p, q);
          const [ai, aj] = corners[e];
          const [bi, bj] = corners[(e + 1) % 4];
          pts.push([ai + t * (bi - ai), aj + t * (bj - aj)]);
        }
      }
      if (pts.length === 2) out.push(pts[0][0], pts[0][1], pts[1][0], pts[1][1]);
      else if (pts.length === 4) out.push(...pts[0], ...pts[1], ...pts[2], ...pts[3]);
    }
  }
  return out;
}

/** Coordinates of grid point k along an axis of n points from lo to hi. */
export function axisValue(range: Range, n: number, k: number): number {
  return n > 1 ? range[0] + ((range[1] - range[0]) * k) / (n - 1) : range[0];
}

/** A 256-entry RGB lookup table (bytes) of a colormap, for drawing many pixels fast. */
export function colormapLUT(name: string): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let k = 0; k < 256; k++) {
    const [r, g, b] = colormap(name, k / 255);
    lut[3 * k] = Math.round(r * 255);
    lut[3 * k + 1] = Math.round(g * 255);
    lut[3 * k + 2] = Math.round(b * 255);
  }
  return lut;
}

/** The step between round ticks covering [lo, hi] with about n intervals: 1, 2 or 5 times a power of 10. */
export function tickStep(lo: number, hi: number, n = 5): number {
  const raw = (hi - lo) / Math.max(1, n);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? raw;
}

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = tickStep(lo, hi, n);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Math.abs(v) < 1e-12 * step ? 0 : v);
  return out;
}

/** Tick labels that share one format: as many decimals as the step needs (0.25 -> "0.25", 0.5 -> "0.5"),
 * powers-of-ten notation for very large or small values. */
export function formatTicks(values: number[]): string[] {
  if (values.length === 0) return [];
  const step = values.length > 1 ? Math.abs(values[1] - values[0]) : Math.abs(values[0]) || 1;
  const big = Math.max(...values.map(Math.abs));
  if (big >= 1e5 || (big > 0 && big < 1e-3)) return values.map((v) => (v === 0 ? "0" : formatNumber(v)));
  // as few decimals as write every tick exactly (0.25 needs two, 0.5 one)
  let decimals = 0;
  while (decimals < 6 && values.some((v) => Math.abs(v * 10 ** decimals - Math.round(v * 10 ** decimals)) > 1e-6 * Math.max(1, step * 10 ** decimals))) {
    decimals++;
  }
  return values.map((v) => {
    const s = v.toFixed(decimals);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  });
}

const SUPERSCRIPT: Record<string, string> = {
  "-": "\u207b", "0": "\u2070", "1": "\u00b9", "2": "\u00b2", "3": "\u00b3", "4": "\u2074",
  "5": "\u2075", "6": "\u2076", "7": "\u2077", "8": "\u2078", "9": "\u2079",
};

/** 10^k written with superscripts ("10\u207b\u00b3"), for log-scale tick labels. */
export function powerOfTen(k: number): string {
  return "10" + String(Math.round(k)).split("").map((c) => SUPERSCRIPT[c] ?? c).join("");
}

/** Ticks of a log10-plotted quantity, as (plotted value, label): whole decades when the range spans at
 * least one (every 2nd, 5th ... when there are many), else round values of the quantity itself. */
export function logTicks(lo: number, hi: number, n = 5): { values: number[]; labels: string[] } {
  if (!(hi > lo)) return { values: [lo], labels: [formatNumber(Math.pow(10, lo))] };
  if (hi - lo >= 1) {
    const step = Math.max(1, Math.ceil((hi - lo) / n));
    const values: number[] = [];
    for (let k = Math.ceil(lo / step) * step; k <= hi + 1e-9; k += step) values.push(k);
    if (values.length >= 2) return { values, labels: values.map(powerOfTen) };
  }
  const raw = ticks(Math.pow(10, lo), Math.pow(10, hi), n).filter((v) => v > 0);
  return { values: raw.map(Math.log10), labels: formatTicks(raw) };
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** Whether a WebGL renderer string names a software rasterizer (Chromium's SwiftShader, Mesa's llvmpipe or
 * softpipe, Microsoft's Basic Render Driver). There every pixel is CPU time taken from the kernel on the same
 * machine, so the widget renders without multisampling and at one pixel per CSS pixel. */
export function isSoftwareRenderer(name: string): boolean {
  return /swiftshader|llvmpipe|softpipe|basic render|software/i.test(name);
}

/** The WebGL renderer string of this browser ("" if it hides it), from a throwaway context. */
export function webglRendererName(): string {
  try {
    const gl = document.createElement("canvas").getContext("webgl");
    if (!gl) return "";
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? "");
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return name;
  } catch {
    return "";
  }
}

/** A CSS colour without its alpha: "rgba(0, 0, 0, 0.87)" (JupyterLab's text colour) is "rgb(0, 0, 0)".
 * three.js ignores the alpha, and warns each time it is given one. */
export function solidColor(css: string): string {
  const m = /^rgba\(\s*([^,]+),\s*([^,]+),\s*([^,]+),[^)]*\)$/i.exec(css.trim());
  return m ? `rgb(${m[1].trim()}, ${m[2].trim()}, ${m[3].trim()})` : css;
}

/** A panel's status badge: "computing…", "preview" with what the preview's points were ("preview on 1024 of
 * 16896 points", from the payload's ``points_note``), or "" (no badge) once the full grid is drawn. */
export function badgeText(status: string, pointsNote?: string): string {
  if (status === "computing") return "computing…";
  if (status === "preview") return pointsNote ? `preview ${pointsNote}` : "preview";
  return "";
}
