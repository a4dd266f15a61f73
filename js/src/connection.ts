// The connection of two minima (plw.connect) on a "curve" panel: the trained Bezier curve and the straight
// segment between the runs' parameters as lines on the surface (3-D) or over the heatmap (2-D). Their points
// come as tables like the training path's (alpha, beta, loss, 0, t), each point at its own loss, so the lines
// lie on the surface.
import * as THREE from "three";
import { decodeFloat32 } from "./lib";
import { Frame } from "./plot2d";
import { Grid } from "./surface";
import { TRAJ_COLS, pathPoints } from "./trajectory";

export const CURVE_COLOR = "#ff2bd6";
export const SEGMENT_COLOR = "#ffffff";

/** The curve's and the segment's tables of a panel's payload (empty when it has no connection). */
export function connectionTables(p: any): { curve: Float32Array; line: Float32Array } {
  return { curve: decodeFloat32(p?.connection?.curve), line: decodeFloat32(p?.connection?.line) };
}

function tube(pts: THREE.Vector3[], color: string, radius: number): THREE.Object3D[] {
  if (pts.length < 2) return [];
  const path = new THREE.CatmullRomCurve3(pts, false, "centripetal");
  const mesh = new THREE.Mesh(new THREE.TubeGeometry(path, 4 * pts.length, radius, 6, false),
    new THREE.MeshBasicMaterial({ color }));
  const ghost = new THREE.Line(new THREE.BufferGeometry().setFromPoints(path.getPoints(6 * pts.length)),
    new THREE.LineBasicMaterial({ color, transparent: true, opacity: 0.45, depthTest: false }));
  ghost.renderOrder = 5; // parts behind a ridge stay traceable
  return [mesh, ghost];
}

/** The 3-D objects: the segment (white) and the curve (magenta), unlit so their colour reads as drawn. */
export function connectionObjects(p: any, g: Grid, log: boolean, ref: number): THREE.Object3D[] {
  const { curve, line } = connectionTables(p);
  if (curve.length < 2 * TRAJ_COLS) return [];
  return [...tube(pathPoints(line, g, log, ref), SEGMENT_COLOR, 0.009),
    ...tube(pathPoints(curve, g, log, ref), CURVE_COLOR, 0.013)];
}

/** The two lines over the heatmap, in (alpha, beta). */
export function drawConnection2d(ctx: CanvasRenderingContext2D, p: any, f: Frame, scale: number) {
  const { curve, line } = connectionTables(p);
  ctx.save();
  ctx.scale(scale, scale);
  ctx.beginPath();
  ctx.rect(f.L, f.T, f.W, f.H);
  ctx.clip();
  for (const [t, color, width] of [[line, SEGMENT_COLOR, 2], [curve, CURVE_COLOR, 3]] as const) {
    const n = Math.floor(t.length / TRAJ_COLS);
    if (n < 2) continue;
    ctx.beginPath();
    for (let k = 0; k < n; k++) {
      const x = f.px(t[k * TRAJ_COLS]);
      const y = f.py(t[k * TRAJ_COLS + 1]);
      if (k) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.stroke();
  }
  ctx.restore();
}
