// The training path on a panel: a tube over the surface (or a thick line on the 2-D views) from a start
// marker to an end marker, and the replay marker that moves along it. Each checkpoint is drawn at its own
// loss; the loss is measured off the plane, so the path may float above or dip below the surface, and the
// replay says how far from the plane each checkpoint lies.
import * as THREE from "three";
import { bilinear } from "./interp";
import { Label, TICK_FONT_PX } from "./layout";
import { Frame } from "./plot2d";
import { HEIGHT } from "./scene";
import { Grid } from "./surface";

export const TRAJ_COLS = 5; // alpha, beta, loss, offplane, step (the kernel's trajectory table)
export const START_COLOR = "#1b9e77";
export const END_COLOR = "#ff8c1a";

/** The path's colour: one that stands out against the colormap. */
export function pathColor(cmap: string): string {
  return cmap === "magma" || cmap === "coolwarm" ? "#00b7ff" : "#e6194b";
}

/** A checkpoint's plotted height value: its loss on the panel's scale, clamped into the colour range;
 * when the loss is unknown (a Dataset without its run), the surface's value under it. */
export function plottedLoss(loss: number, g: Grid, log: boolean, ref: number, fi: number, fj: number): number {
  let v: number;
  if (Number.isFinite(loss)) {
    const d = loss - ref;
    v = log ? (d > 0 ? Math.log10(d) : g.scaled.min) : d;
  } else {
    v = bilinear(g.scaled.z, g.nA, g.nB, fi, fj);
  }
  if (!Number.isFinite(v)) v = g.scaled.max;
  return Math.min(g.scaled.max, Math.max(g.scaled.min, v));
}

/** Each checkpoint in scene units (x, y over [-1, 1], z the surface height scale). */
export function pathPoints(table: Float32Array, g: Grid, log: boolean, ref: number): THREE.Vector3[] {
  const T = Math.floor(table.length / TRAJ_COLS);
  const pts: THREE.Vector3[] = [];
  for (let k = 0; k < T; k++) {
    const [al, be, loss] = [table[k * TRAJ_COLS], table[k * TRAJ_COLS + 1], table[k * TRAJ_COLS + 2]];
    const fi = ((al - g.a[0]) / (g.a[1] - g.a[0] || 1)) * (g.nA - 1);
    const fj = ((be - g.b[0]) / (g.b[1] - g.b[0] || 1)) * (g.nB - 1);
    const v = plottedLoss(loss, g, log, ref, fi, fj);
    pts.push(new THREE.Vector3(-1 + (2 * fi) / Math.max(1, g.nA - 1), -1 + (2 * fj) / Math.max(1, g.nB - 1),
      ((v - g.scaled.min) / (g.scaled.max - g.scaled.min || 1)) * HEIGHT + 0.012));
  }
  return pts;
}

function sphere(r: number, color: string): THREE.Object3D {
  return new THREE.Mesh(new THREE.SphereGeometry(r, 16, 12), new THREE.MeshLambertMaterial({ color }));
}

/** Tube, a faint always-visible copy (parts behind a ridge stay traceable), start and end markers. (The
 * replay marker is an element over the canvas: moving it costs no new picture of the scene.) */
export function pathObjects(pts: THREE.Vector3[], color: string): THREE.Object3D[] {
  const uniq = pts.filter((p, k) => k === 0 || p.distanceTo(pts[k - 1]) > 1e-5);
  const out: THREE.Object3D[] = [];
  if (uniq.length >= 2) {
    const curve = new THREE.CatmullRomCurve3(uniq, false, "centripetal");
    const tube = new THREE.TubeGeometry(curve, Math.min(400, 4 * uniq.length), 0.013, 6, false);
    out.push(new THREE.Mesh(tube, new THREE.MeshLambertMaterial({ color })));
    const ghost = new THREE.BufferGeometry().setFromPoints(curve.getPoints(Math.min(600, 6 * uniq.length)));
    const line = new THREE.Line(ghost, new THREE.LineBasicMaterial({ color, transparent: true, opacity: 0.4,
      depthTest: false }));
    line.renderOrder = 5;
    out.push(line);
  }
  if (pts.length) {
    const start = sphere(0.035, START_COLOR);
    start.position.copy(pts[0]);
    const end = sphere(0.04, END_COLOR);
    end.position.copy(pts[pts.length - 1]);
    out.push(start, end);
  }
  return out;
}

/** The replay marker's scene position at fractional checkpoint p. */
export function markerAt(pts: THREE.Vector3[], p: number): THREE.Vector3 {
  if (!pts.length) return new THREE.Vector3();
  const c = Math.min(pts.length - 1, Math.max(0, p));
  const k = Math.min(pts.length - 2, Math.floor(c));
  if (pts.length === 1) return pts[0].clone();
  return pts[k].clone().lerp(pts[k + 1], c - k);
}

/** "start" and "end" labels for the overlay, at screen positions. */
export function endLabels(start: [number, number] | null, end: [number, number] | null): Label[] {
  const out: Label[] = [];
  if (start) out.push({ text: "start", x: start[0] + 8, y: start[1] - 8, ax: 0, ay: 1, size: TICK_FONT_PX,
    bold: true, priority: 8, kind: "marker" });
  if (end) out.push({ text: "end", x: end[0] + 8, y: end[1] + 6, ax: 0, ay: 0, size: TICK_FONT_PX, bold: true,
    priority: 8, kind: "marker" });
  return out;
}

/** Frame coordinates of each checkpoint in a 2-D view: (alpha, beta) on the heatmap, (alpha, loss) on a
 * 1-D slice. */
export function path2d(table: Float32Array, g: Grid, f: Frame, log: boolean, ref: number): [number, number][] {
  const T = Math.floor(table.length / TRAJ_COLS);
  const out: [number, number][] = [];
  for (let k = 0; k < T; k++) {
    const al = table[k * TRAJ_COLS];
    const be = table[k * TRAJ_COLS + 1];
    if (g.nB === 1) {
      const fi = ((al - g.a[0]) / (g.a[1] - g.a[0] || 1)) * (g.nA - 1);
      out.push([f.px(al), f.py(plottedLoss(table[k * TRAJ_COLS + 2], g, log, ref, fi, 0))]);
    } else {
      out.push([f.px(al), f.py(be)]);
    }
  }
  return out;
}

/** Draw the path and its ends on a 2-D view. */
export function drawPath2d(ctx: CanvasRenderingContext2D, pts: [number, number][], color: string, scale: number,
  f: Frame) {
  if (!pts.length) return;
  ctx.save();
  ctx.scale(scale, scale);
  ctx.beginPath();
  ctx.rect(f.L - 6, f.T - 6, f.W + 12, f.H + 12);
  ctx.clip();
  ctx.lineJoin = "round";
  ctx.strokeStyle = "rgba(0,0,0,0.55)";
  ctx.lineWidth = 5;
  ctx.beginPath();
  pts.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
  ctx.strokeStyle = color;
  ctx.lineWidth = 3;
  ctx.stroke();
  const dot = (x: number, y: number, r: number, fill: string) => {
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#111";
    ctx.stroke();
  };
  dot(pts[0][0], pts[0][1], 5, START_COLOR);
  dot(pts[pts.length - 1][0], pts[pts.length - 1][1], 6, END_COLOR);
  ctx.restore();
}

export const MARKER_RADIUS = 7; // CSS px

/** The replay marker as drawn in a saved PNG (on screen it is an element, see PanelView). */
export function drawMarker(ctx: CanvasRenderingContext2D, x: number, y: number, scale: number) {
  ctx.save();
  ctx.beginPath();
  ctx.arc(x * scale, y * scale, MARKER_RADIUS * scale, 0, 2 * Math.PI);
  ctx.fillStyle = "#ffffff";
  ctx.fill();
  ctx.lineWidth = 2.5 * scale;
  ctx.strokeStyle = "#111111";
  ctx.stroke();
  ctx.restore();
}
