// The solution panel: u_theta beside the exact solution and the pointwise error, at the replayed
// checkpoint or at a clicked point of a landscape. Curves for one coordinate, heatmaps over both
// coordinates for two (x right, the second coordinate up), a selector for the unknown of a system. During a
// replay the axes and colour ranges stay fixed over all checkpoints, so the picture moves, not its scale.
import { colormapLUT, decodeFloat32, formatNumber } from "./lib";
import { heatmapPixels, lastAtOrBefore } from "./interp";
import { TICK_FONT_PX } from "./layout";
import { Ticks, colorbarWidth, drawColorbar, drawCurve, drawFrame, drawLabels, frameLabels, layoutLabels, linearTicks, makeFrame,
} from "./plot2d";

/** One unknown's fields on a grid: values [3][n] rows u_theta, exact, error (NaN where unknown). */
export interface Fields {
  dims: string[];
  coords: Record<string, [number, number, number]>;
  unknown: string;
  u: Float32Array;
  exact: Float32Array | null;
  error: Float32Array | null;
  ranges: { u: [number, number]; err: number }; // colour / axis ranges
  title: string;
}

function finiteRange(...arrays: (ArrayLike<number> | null)[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    if (!a) continue;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi === lo) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

function maxAbs(a: ArrayLike<number> | null): number {
  let m = 0;
  if (a) for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) m = Math.max(m, Math.abs(a[i]));
  return m || 1;
}

/** Fields of a clicked point (the kernel's solution trait): values [n_unknowns, 3, ...grid]. */
export function pointFields(sol: Record<string, any>, unknown: string): Fields | null {
  const names = (sol.unknowns ?? []) as string[];
  const all = decodeFloat32(sol.values);
  if (!names.length || !all.length) return null;
  const k = Math.max(0, names.indexOf(unknown));
  const n = all.length / (3 * names.length);
  const part = (r: number) => all.slice((3 * k + r) * n, (3 * k + r + 1) * n);
  const u = part(0);
  const exact = sol.has_exact ? part(1) : null;
  const error = sol.has_exact ? part(2) : null;
  return { dims: sol.dims, coords: sol.coords, unknown: names[k], u, exact, error,
    ranges: { u: finiteRange(u, exact), err: maxAbs(error) }, title: sol.title ?? "" };
}

/** Fields of a replayed checkpoint: the frame at or before checkpoint k of the run's replay. The ranges
 * span every frame, so they do not jump during playback. */
const decoded = new WeakMap<object, { u: Float32Array; exact: Float32Array; errors: Float32Array }>();

export function replayFields(rep: Record<string, any>, k: number, unknown: string, steps: number[]): Fields | null {
  const names = (rep.unknowns ?? []) as string[];
  const frames = (rep.frames ?? []) as number[];
  // decoded once per payload: a replay asks for a frame 30 times a second
  if (!decoded.has(rep)) {
    decoded.set(rep, { u: decodeFloat32(rep.u), exact: decodeFloat32(rep.exact), errors: decodeFloat32(rep.rel_l2_error) });
  }
  const dec = decoded.get(rep)!;
  const all = dec.u;
  if (!names.length || !frames.length || !all.length) return null;
  const q = Math.max(0, names.indexOf(unknown));
  const perFrame = all.length / frames.length;
  const n = perFrame / names.length;
  const f = lastAtOrBefore(frames, k);
  const u = all.slice(f * perFrame + q * n, f * perFrame + (q + 1) * n);
  const ex = dec.exact;
  const exact = ex.length ? ex.slice(q * n, (q + 1) * n) : null;
  const error = exact ? u.map((v, i) => v - exact[i]) : null;
  // ranges over every frame of this unknown (cached on the payload object)
  const cacheKey = `_ranges_${q}`;
  if (!rep[cacheKey]) {
    const us: number[] = [];
    for (let j = 0; j < frames.length; j++) {
      const uj = all.subarray(j * perFrame + q * n, j * perFrame + (q + 1) * n);
      const r = finiteRange(uj);
      us.push(r[0], r[1]);
    }
    rep[cacheKey] = { u: finiteRange(us, exact) };
  }
  const errors = dec.errors;
  const ck = frames[f];
  const title = `${names[q]}_theta at checkpoint ${ck + 1} (step ${steps[ck] ?? ck})` +
    (errors.length > f && Number.isFinite(errors[f]) ? `, rel. L2 error ${formatNumber(errors[f])}` : "");
  // u keeps one range over the replay; the error, which shrinks by decades, gets its own per checkpoint
  const ranges = { u: rep[cacheKey].u as [number, number], err: maxAbs(error) };
  return { dims: rep.dims, coords: rep.coords, unknown: names[q], u, exact, error, ranges, title };
}

const U_COLOR = "#2a6fdb";
const ERR_COLOR = "#d95f02";

/** Draw the fields into a canvas of cssW x cssH at ``scale``. */
export function drawFields(ctx: CanvasRenderingContext2D, f: Fields, cssW: number, cssH: number, scale: number,
  fg: string) {
  ctx.clearRect(0, 0, cssW * scale, cssH * scale);
  if (f.dims.length === 1) drawCurves(ctx, f, cssW, cssH, scale, fg);
  else drawMaps(ctx, f, cssW, cssH, scale, fg);
}

function drawCurves(ctx: CanvasRenderingContext2D, f: Fields, cssW: number, cssH: number, s: number, fg: string) {
  const [lo, hi, n] = f.coords[f.dims[0]];
  const xs = Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / Math.max(1, n - 1));
  const topH = f.error ? Math.round(cssH * 0.6) : cssH;
  const size = TICK_FONT_PX - 1;
  const plot = (y0: number, h: number, ys: [ArrayLike<number>, string, number[]][], yr: [number, number],
    title: string, xTitle?: string) => {
    const yt: Ticks = linearTicks(yr, Math.max(2, Math.floor(h / 45)));
    const opts = { xTitle, size };
    const fr = makeFrame(cssW, h, [lo, hi], yr, yt, { ...opts, top: 20, right: 10 });
    ctx.save();
    ctx.translate(0, y0 * s);
    const xt = linearTicks([lo, hi], Math.max(2, Math.floor(cssW / 80)));
    drawFrame(ctx, fr, xt, yt, fg, s);
    for (const [vals, color, dash] of ys) drawCurve(ctx, fr, xs, vals, color, 2, dash, s);
    const labels = [...frameLabels(fr, xt, yt, opts),
      { text: title, x: fr.L, y: 3, ax: 0, ay: 0, size: TICK_FONT_PX, bold: true, priority: 12, kind: "title" as const }];
    drawLabels(ctx, labels, layoutLabels(labels, { x: 0, y: 0, w: cssW, h }), fg, s);
    ctx.restore();
    return fr;
  };
  const curves: [ArrayLike<number>, string, number[]][] = [[f.u, U_COLOR, []]];
  if (f.exact) curves.push([f.exact, fg, [6, 4]]);
  plot(0, topH, curves, f.ranges.u, `${f.unknown}_theta${f.exact ? " and exact (dashed)" : ""}`,
    f.error ? undefined : f.dims[0]);
  if (f.error) {
    plot(topH, cssH - topH, [[f.error, ERR_COLOR, []]], [-f.ranges.err, f.ranges.err],
      `error u_theta \u2212 exact (largest ${formatNumber(f.ranges.err)})`,
      f.dims[0]);
  }
}

function drawMaps(ctx: CanvasRenderingContext2D, f: Fields, cssW: number, cssH: number, s: number, fg: string) {
  const [a0, a1, na] = f.coords[f.dims[0]];
  const [b0, b1, nb] = f.coords[f.dims[1]];
  // u_theta and the exact solution share one colorbar (same range); the error has its own, centred at 0
  type Map = { title: string; vals: Float32Array; range: [number, number]; cmap: string; bar: boolean };
  const maps: Map[] = [{ title: `${f.unknown}_theta`, vals: f.u, range: f.ranges.u, cmap: "viridis", bar: !f.exact }];
  if (f.exact) maps.push({ title: "exact", vals: f.exact, range: f.ranges.u, cmap: "viridis", bar: true });
  if (f.error) maps.push({ title: "error", vals: f.error, range: [-f.ranges.err, f.ranges.err], cmap: "coolwarm",
    bar: true });
  const cbW = Math.max(...maps.map((m) => colorbarWidth(m.range[0], m.range[1], false, false)));
  const bars = maps.filter((m) => m.bar).length;
  const cellW = (cssW - bars * cbW) / maps.length;
  let x0 = 0;
  for (const m of maps) {
    const xt = linearTicks([a0, a1], Math.max(2, Math.floor(cellW / 60)));
    const yt = linearTicks([b0, b1], 3);
    const opts = { xTitle: f.dims[0], yTitle: f.dims[1], size: TICK_FONT_PX - 1 };
    const fr = makeFrame(cellW, cssH, [a0, a1], [b0, b1], yt, { ...opts, top: 20, right: 8 });
    ctx.save();
    ctx.translate(x0 * s, 0);
    const w = Math.max(1, Math.round(fr.W * s));
    const h = Math.max(1, Math.round(fr.H * s));
    const px = heatmapPixels(m.vals, na, nb, w, h, m.range[0], m.range[1], colormapLUT(m.cmap));
    const tmp = document.createElement("canvas");
    tmp.width = w;
    tmp.height = h;
    tmp.getContext("2d")!.putImageData(new ImageData(px, w, h), 0, 0);
    ctx.drawImage(tmp, fr.L * s, fr.T * s);
    drawFrame(ctx, fr, xt, yt, fg, s);
    const labels = [...frameLabels(fr, xt, yt, opts),
      { text: m.title, x: fr.L, y: 3, ax: 0, ay: 0, size: TICK_FONT_PX, bold: true, priority: 12, kind: "title" as const }];
    drawLabels(ctx, labels, layoutLabels(labels, { x: 0, y: 0, w: cellW, h: cssH }), fg, s);
    if (m.bar) {
      ctx.translate(cellW * s, (fr.T - 10) * s);
      drawColorbar(ctx, cbW, fr.H + 20, s, { min: m.range[0], max: m.range[1], log: false, cmap: m.cmap, title: "", fg });
    }
    ctx.restore();
    x0 += cellW + (m.bar ? cbW : 0);
  }
}

/** The solution box: a title, a selector for the unknown (systems), and the canvas. */
export class SolutionPanel {
  readonly el = document.createElement("div");
  private title = document.createElement("div");
  private select = document.createElement("select");
  private canvas = document.createElement("canvas");
  unknown = "";
  private key = "";
  /** What was drawn last (for tests and the text description). */
  drawn = "";

  constructor(onUnknown: () => void) {
    this.el.className = "plw-solution-box";
    const head = document.createElement("div");
    head.className = "plw-solution-head";
    this.title.className = "plw-sol-title";
    this.select.className = "plw-unknown";
    this.select.setAttribute("aria-label", "Unknown to show");
    this.select.title = "Which unknown of the system the solution panel shows";
    this.select.addEventListener("change", () => {
      this.unknown = this.select.value;
      onUnknown();
    });
    head.append(this.title, this.select);
    this.canvas.className = "plw-solution";
    this.canvas.setAttribute("role", "img");
    this.el.append(head, this.canvas);
  }

  setUnknowns(names: string[]) {
    if (!names.includes(this.unknown)) this.unknown = names[0] ?? "";
    // no DOM writes when nothing changed: a replay calls this every frame
    if (Array.from(this.select.options).map((o) => o.value).join() !== names.join()) {
      this.select.innerHTML = "";
      for (const n of names) this.select.appendChild(new Option(n, n));
    }
    if (this.select.value !== this.unknown) this.select.value = this.unknown;
    const display = names.length > 1 ? "" : "none";
    if (this.select.style.display !== display) this.select.style.display = display;
  }

  /** The box's width, measured once per resize (reading it every frame would force a layout each time). */
  width = 0;

  message(text: string) {
    this.title.textContent = text;
    this.canvas.style.display = "none";
    this.drawn = "";
  }

  show(f: Fields, fg: string) {
    if (!this.width) this.width = this.el.clientWidth;
    const cssW = Math.max(260, this.width || 360);
    const key = `${f.title}|${f.unknown}|${cssW}|${fg}|${f.u.length}`;
    if (key === this.key && this.canvas.style.display !== "none") return; // the same picture (a replay frame)
    this.key = key;
    this.title.textContent = f.title;
    this.canvas.style.display = "";
    const cssH = f.dims.length === 1 ? 230 : Math.round(Math.min(260, Math.max(180, cssW / 3.6)));
    const s = Math.min(2, window.devicePixelRatio || 1);
    this.canvas.width = Math.round(cssW * s);
    this.canvas.height = Math.round(cssH * s);
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    drawFields(this.canvas.getContext("2d")!, f, cssW, cssH, s, fg);
    this.el.classList.toggle("plw-wide", f.dims.length > 1);
    const kind = f.dims.length === 1 ? "curves" : "heatmaps";
    this.canvas.setAttribute("aria-label", `${f.title}: ${kind} of ${f.unknown}_theta` +
      (f.exact ? ", the exact solution and the error" : "") + ` over ${f.dims.join(" and ")}`);
    this.drawn = f.title;
  }
}
