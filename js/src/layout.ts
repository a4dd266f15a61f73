// Pure layout: which labels to show so none overlaps, how many panels per row, where a camera must stand
// for a box to fill its view, and which box edges carry the 3-D axes. No DOM here, so vitest pins it.
import * as THREE from "three";

export interface Box {
  x: number; // left, CSS px
  y: number; // top
  w: number;
  h: number;
}

/** A text label: anchored at (x, y); ax, ay say which point of its box sits there (0 = left/top, 0.5 =
 * centre, 1 = right/bottom). Higher priority wins a place first. */
export interface Label {
  text: string;
  x: number;
  y: number;
  ax: number;
  ay: number;
  size: number; // font size, CSS px
  bold?: boolean;
  priority: number;
  kind: "tick" | "title" | "marker";
  rotate?: boolean; // a vertical title (read bottom to top)
}

export const TICK_FONT_PX = 12;
export const TITLE_FONT_PX = 13;

export function overlap(a: Box, b: Box, pad = 0): boolean {
  return a.x < b.x + b.w + pad && b.x < a.x + a.w + pad && a.y < b.y + b.h + pad && b.y < a.y + a.h + pad;
}

/** The box a label takes, given its text width. A rotated label is as wide as its line height. */
export function labelBox(l: Label, textWidth: number): Box {
  const h = Math.ceil(l.size * 1.25);
  const [w, hh] = l.rotate ? [h, textWidth] : [textWidth, h];
  return { x: l.x - l.ax * w, y: l.y - l.ay * hh, w, h: hh };
}

/** Which labels to show: by priority (then order), each kept only if its box overlaps no kept one (with
 * pad px between) and lies inside ``bounds`` when given. Returns one flag per label. */
export function placeLabels(boxes: Box[], priorities: number[], pad = 2, bounds?: Box): boolean[] {
  const order = boxes.map((_, i) => i).sort((i, j) => priorities[j] - priorities[i] || i - j);
  const kept: Box[] = [];
  const show = boxes.map(() => false);
  for (const i of order) {
    const b = boxes[i];
    if (!Number.isFinite(b.x) || !Number.isFinite(b.y)) continue;
    if (bounds && (b.x < bounds.x || b.y < bounds.y || b.x + b.w > bounds.x + bounds.w || b.y + b.h > bounds.y + bounds.h)) {
      continue;
    }
    if (kept.some((k) => overlap(k, b, pad))) continue;
    kept.push(b);
    show[i] = true;
  }
  return show;
}

/** Panels per row: as many as fit at ``minWidth`` px each, at most n, at least 1. */
export function panelColumns(width: number, n: number, minWidth = 300): number {
  return Math.max(1, Math.min(n, Math.floor((width + 8) / (minWidth + 8))));
}

/** The camera distance along ``dir`` (from ``target``) at which every point projects inside the view,
 * within ``margin`` of the edge (a fraction of half the view), for a perspective camera. */
export function fitDistance(
  points: THREE.Vector3[], target: THREE.Vector3, dir: THREE.Vector3, up: THREE.Vector3,
  fovDeg: number, aspect: number, margin = 0.06,
): number {
  const d = dir.clone().normalize();
  // a camera frame: right and up vectors orthogonal to the view direction
  let right = new THREE.Vector3().crossVectors(up, d);
  if (right.lengthSq() < 1e-12) right = new THREE.Vector3(1, 0, 0);
  right.normalize();
  const camUp = new THREE.Vector3().crossVectors(d, right).normalize();
  const ty = Math.tan((fovDeg * Math.PI) / 360) * (1 - margin);
  const tx = ty * aspect;
  let dist = 0;
  for (const p of points) {
    const v = p.clone().sub(target);
    const depth = v.dot(d); // towards the camera
    const x = Math.abs(v.dot(right));
    const y = Math.abs(v.dot(camUp));
    // a point at distance D - depth in front of the camera is inside when x <= tx (D - depth), same for y
    dist = Math.max(dist, depth + x / tx, depth + y / ty);
  }
  return dist;
}

/** Camera presets: the direction from the target to the camera (z up). "top" is tilted a hair so that
 * alpha points right and beta up on screen. */
export const PRESETS: Record<string, [number, number, number]> = {
  "3d": [0.62, -0.95, 0.72],
  top: [0, -1e-3, 1],
  side: [0, -1, 0.08],
};

/** Which edges of the [-1, 1]^2 floor carry the tick labels for a camera at ``cam`` (relative to the
 * target): alpha along the edge y = ys nearest the camera, beta along x = xs nearest, the loss axis on the
 * side corner. */
export function axisEdges(cam: { x: number; y: number }): { ys: number; xs: number; corner: [number, number] } {
  const ys = cam.y >= 0 ? 1 : -1;
  const xs = cam.x >= 0 ? 1 : -1;
  // of the two side corners, (xs, -ys) and (-xs, ys), take the one further to the viewer's left
  const left = (px: number, py: number) => px * -cam.y + py * cam.x; // negative: to the left on screen
  const corner: [number, number] = left(xs, -ys) < left(-xs, ys) ? [xs, -ys] : [-xs, ys];
  return { ys, xs, corner };
}
