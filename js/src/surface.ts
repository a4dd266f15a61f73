// The landscape itself: a lit 3-D surface with contour lines, or a smooth (bilinearly interpolated)
// heatmap with contours, or, for a 1-D slice, a line plot. 2-D views draw on the panel's canvas and
// hand their tick labels to the label overlay.
import * as THREE from "three";
import { Range, Scaled, buildSurface, colormapLUT, contourSegments, solidColor } from "./lib";
import { heatmapPixels } from "./interp";
import { Label } from "./layout";
import { Frame, Ticks, drawCurve, drawFrame, frameLabels, linearTicks, makeFrame } from "./plot2d";
import { HEIGHT } from "./scene";

/** What a panel's grid is, once decoded and scaled. */
export interface Grid {
  scaled: Scaled; // plotted values (log10 or linear, minus E* for Deep Ritz) and their colour range
  nA: number;
  nB: number; // 1 for a 1-D slice
  a: Range;
  b: Range;
}

/** Contour levels at round values of the plotted quantity, strictly inside its range. */
export function contourValues(zTicks: Ticks, min: number, max: number): number[] {
  const step = zTicks.values.length > 1 ? (zTicks.values[1] - zTicks.values[0]) / 2 : (max - min) / 10;
  if (!(step > 0)) return [];
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v < max - 1e-9 * step; v += step) if (v > min + 1e-9 * step) out.push(v);
  return out.length > 30 ? out.filter((_, k) => k % 2 === 0) : out;
}

/** The 3-D surface mesh and its contour lines. */
export function surfaceObjects(g: Grid, cmap: string, wireframe: boolean, levels: number[] | null, fg: string,
): THREE.Object3D[] {
  const mesh = buildSurface(g.scaled, g.nA, g.nB, HEIGHT, cmap);
  const geo = new THREE.BufferGeometry();
  geo.setAttribute("position", new THREE.BufferAttribute(mesh.positions, 3));
  geo.setAttribute("color", new THREE.BufferAttribute(mesh.colors, 3));
  geo.setIndex(new THREE.BufferAttribute(mesh.index, 1));
  geo.computeVertexNormals();
  // Lambert, not the PBR standard material: the same look here for a fraction of the per-pixel work
  const mat = new THREE.MeshLambertMaterial({ vertexColors: true, side: THREE.DoubleSide, wireframe });
  const surface = new THREE.Mesh(geo, mat);
  surface.name = "surface";
  const out: THREE.Object3D[] = [surface];
  if (levels && levels.length) {
    const { min, max } = g.scaled;
    const pts: number[] = [];
    for (const level of levels) {
      const seg = contourSegments(g.scaled.z, g.nA, g.nB, level);
      const z = ((level - min) / (max - min || 1)) * HEIGHT + 0.004;
      for (let s = 0; s < seg.length; s += 2) {
        pts.push(g.nA > 1 ? -1 + (2 * seg[s]) / (g.nA - 1) : 0, g.nB > 1 ? -1 + (2 * seg[s + 1]) / (g.nB - 1) : 0, z);
      }
    }
    const lg = new THREE.BufferGeometry();
    lg.setAttribute("position", new THREE.Float32BufferAttribute(pts, 3));
    out.push(new THREE.LineSegments(lg, new THREE.LineBasicMaterial({ color: new THREE.Color(solidColor(fg)), transparent: true,
      opacity: 0.45 })));
  }
  return out;
}

/** A cache of the heatmap's pixels: recomputing them for each replay frame would cost a frame. */
export class HeatmapImage {
  private key = "";
  private canvas: HTMLCanvasElement | null = null;

  image(g: Grid, cmap: string, w: number, h: number): HTMLCanvasElement {
    const key = `${w}x${h}:${cmap}:${g.scaled.min}:${g.scaled.max}:${g.nA}:${g.nB}:${g.scaled.z.length}:${g.scaled.z[0]}`;
    if (key !== this.key || !this.canvas) {
      const c = this.canvas ?? document.createElement("canvas");
      c.width = w;
      c.height = h;
      const px = heatmapPixels(g.scaled.z, g.nA, g.nB, w, h, g.scaled.min, g.scaled.max, colormapLUT(cmap));
      c.getContext("2d")!.putImageData(new ImageData(px, w, h), 0, 0);
      this.canvas = c;
      this.key = key;
    }
    return this.canvas;
  }
}

export interface View2D {
  frame: Frame;
  labels: Label[];
}

/** Axes of the 2-D views: the heatmap (alpha right, beta up) or the 1-D slice (alpha right, loss up). */
export function frame2d(g: Grid, cssW: number, cssH: number, zTicks: Ticks, zTitle: string): { f: Frame; xt: Ticks;
  yt: Ticks; labels: Label[] } {
  const xt = linearTicks(g.a, Math.max(2, Math.floor(cssW / 90)));
  const oneD = g.nB === 1;
  const yRange: Range = oneD ? [g.scaled.min, g.scaled.max] : g.b;
  const yt = oneD ? zTicks : linearTicks(g.b, Math.max(2, Math.floor(cssH / 70)));
  const opts = { xTitle: "alpha", yTitle: oneD ? zTitle : "beta" };
  const f = makeFrame(cssW, cssH, g.a, yRange, yt, { ...opts, top: 12 });
  return { f, xt, yt, labels: frameLabels(f, xt, yt, opts) };
}

/** Draw the heatmap (smooth) or the 1-D line with its frame at ``scale`` device px per CSS px. */
export function draw2d(ctx: CanvasRenderingContext2D, g: Grid, f: Frame, xt: Ticks, yt: Ticks, o: {
  cmap: string; contours: number[] | null; fg: string; scale: number; heat: HeatmapImage;
}) {
  const s = o.scale;
  if (g.nB === 1) {
    const xs = Array.from({ length: g.nA }, (_, i) => g.a[0] + ((g.a[1] - g.a[0]) * i) / Math.max(1, g.nA - 1));
    drawCurve(ctx, f, xs, g.scaled.z, "#2a6fdb", 2.2, [], s);
  } else {
    const img = o.heat.image(g, o.cmap, Math.round(f.W * s), Math.round(f.H * s));
    ctx.drawImage(img, f.L * s, f.T * s);
    if (o.contours && o.contours.length) {
      ctx.save();
      ctx.scale(s, s);
      ctx.beginPath();
      ctx.rect(f.L, f.T, f.W, f.H);
      ctx.clip();
      ctx.strokeStyle = "rgba(255,255,255,0.55)";
      ctx.lineWidth = 0.8;
      ctx.beginPath();
      for (const level of o.contours) {
        const seg = contourSegments(g.scaled.z, g.nA, g.nB, level);
        for (let k = 0; k < seg.length; k += 4) {
          ctx.moveTo(f.L + (f.W * seg[k]) / (g.nA - 1), f.T + f.H * (1 - seg[k + 1] / (g.nB - 1)));
          ctx.lineTo(f.L + (f.W * seg[k + 2]) / (g.nA - 1), f.T + f.H * (1 - seg[k + 3] / (g.nB - 1)));
        }
      }
      ctx.stroke();
      ctx.restore();
    }
  }
  drawFrame(ctx, f, xt, yt, o.fg, s);
}

/** The grid point under a position in a 2-D frame, or null outside it. */
export function gridPointIn2d(g: Grid, f: Frame, x: number, y: number): [number, number] | null {
  const fx = (x - f.L) / f.W;
  const fy = 1 - (y - f.T) / f.H;
  if (fx < 0 || fx > 1 || fy < 0 || fy > 1) return null;
  return [Math.round(fx * (g.nA - 1)), g.nB === 1 ? 0 : Math.round(fy * (g.nB - 1))];
}
