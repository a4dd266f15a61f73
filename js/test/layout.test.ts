import { describe, expect, it } from "vitest";
import * as THREE from "three";
import { axisEdges, fitDistance, labelBox, overlap, panelColumns, placeLabels, type Label } from "../src/layout";

const label = (x: number, y: number, priority = 1, rotate = false): Label =>
  ({ text: "t", x, y, ax: 0.5, ay: 0.5, size: 12, priority, kind: "tick", rotate });

describe("label layout", () => {
  it("boxes sit where the anchor says, rotated ones standing up", () => {
    expect(labelBox(label(100, 50), 40)).toEqual({ x: 80, y: 42.5, w: 40, h: 15 });
    expect(labelBox({ ...label(0, 0), ax: 1, ay: 0 }, 30)).toEqual({ x: -30, y: 0, w: 30, h: 15 });
    expect(labelBox(label(10, 100, 1, true), 60)).toEqual({ x: 2.5, y: 70, w: 15, h: 60 });
  });
  it("keeps no two overlapping labels, higher priority first, and respects bounds", () => {
    // a row of ten 30 px labels 20 px apart: every other one must go
    const boxes = Array.from({ length: 10 }, (_, k) => ({ x: 20 * k, y: 0, w: 30, h: 15 }));
    const show = placeLabels(boxes, boxes.map(() => 1), 2);
    const kept = boxes.filter((_, k) => show[k]);
    for (let i = 0; i < kept.length; i++) for (let j = i + 1; j < kept.length; j++) {
      expect(overlap(kept[i], kept[j], 2)).toBe(false);
    }
    expect(kept.length).toBe(5);
    // a title (priority 10) wins over the tick under it
    const withTitle = placeLabels([{ x: 0, y: 0, w: 30, h: 15 }, { x: 10, y: 5, w: 60, h: 16 }], [1, 10]);
    expect(withTitle).toEqual([false, true]);
    // outside the bounds: dropped
    expect(placeLabels([{ x: -5, y: 0, w: 10, h: 10 }, { x: 5, y: 0, w: 10, h: 10 }], [1, 1], 0,
      { x: 0, y: 0, w: 100, h: 100 })).toEqual([false, true]);
    // NaN positions (a point behind the camera) never show
    expect(placeLabels([{ x: NaN, y: 0, w: 1, h: 1 }], [5])).toEqual([false]);
  });
  it("overlap counts the padding between boxes", () => {
    const a = { x: 0, y: 0, w: 10, h: 10 };
    expect(overlap(a, { x: 11, y: 0, w: 10, h: 10 }, 0)).toBe(false);
    expect(overlap(a, { x: 11, y: 0, w: 10, h: 10 }, 2)).toBe(true);
  });
});

describe("panel columns", () => {
  it("fits as many panels per row as their minimum width allows", () => {
    expect(panelColumns(620, 3, 260)).toBe(2);
    expect(panelColumns(850, 3, 260)).toBe(3);
    expect(panelColumns(1400, 2, 260)).toBe(2);
    expect(panelColumns(200, 3, 260)).toBe(1);
  });
});

describe("fitDistance", () => {
  it("puts every point inside the view with the margin, and no further than needed", () => {
    const pts: THREE.Vector3[] = [];
    for (const x of [-1.15, 1.15]) for (const y of [-1.15, 1.15]) for (const z of [-0.06, 1.2]) {
      pts.push(new THREE.Vector3(x, y, z));
    }
    const target = new THREE.Vector3(0, 0, 0.46);
    for (const [dir, aspect] of [[[0.62, -0.95, 0.72], 1.4], [[0, -1e-3, 1], 0.8], [[0, -1, 0.08], 2.2]] as const) {
      const d = new THREE.Vector3(...dir).normalize();
      const dist = fitDistance(pts, target, d, new THREE.Vector3(0, 0, 1), 30, aspect, 0.1);
      const cam = new THREE.PerspectiveCamera(30, aspect, 0.01, 100);
      cam.up.set(0, 0, 1);
      cam.position.copy(target).addScaledVector(d, dist);
      cam.lookAt(target);
      cam.updateMatrixWorld();
      let extent = 0;
      for (const p of pts) {
        const s = p.clone().project(cam);
        extent = Math.max(extent, Math.abs(s.x), Math.abs(s.y));
      }
      expect(extent).toBeLessThanOrEqual(0.9 + 1e-6);
      expect(extent).toBeGreaterThan(0.9 - 1e-3); // tight: one point touches the margin
    }
  });
});

describe("axisEdges", () => {
  it("labels the floor edges nearest the camera and stands the loss axis on the viewer's left", () => {
    const e = axisEdges({ x: 0.62, y: -0.95 });
    expect([e.ys, e.xs]).toEqual([-1, 1]);
    // from (0.62, -0.95) the corner (-1, -1) is to the left of (1, 1) on screen
    expect(e.corner).toEqual([-1, -1]);
    expect(axisEdges({ x: -1, y: 1 }).ys).toBe(1);
  });
});
