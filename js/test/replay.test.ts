import { describe, expect, it } from "vitest";
import { positionFor, replayDuration } from "../src/replay";
import { pointFields, replayFields } from "../src/solution";
import { contourValues } from "../src/surface";
import { markerAt, plottedLoss } from "../src/trajectory";
import * as THREE from "three";

const b64 = (a: number[]) => btoa(String.fromCharCode(...new Uint8Array(new Float32Array(a).buffer)));

describe("replay position", () => {
  it("is the same index for the same run, and meets at the same training step for others", () => {
    expect(positionFor([0, 10, 20], [0, 10, 20], 1.5)).toBe(1.5);
    // the reference run records every 10 steps, this one every 5: step 15 is its checkpoint 3
    expect(positionFor([0, 5, 10, 15, 20], [0, 10, 20], 1.5)).toBeCloseTo(3, 12);
    // past this run's last checkpoint: it stays at its end
    expect(positionFor([0, 5], [0, 10, 20], 2)).toBe(1);
  });
  it("lasts 4 to 10 seconds", () => {
    expect(replayDuration(2)).toBe(4);
    expect(replayDuration(101)).toBeCloseTo(101 / 15, 12);
    expect(replayDuration(5000)).toBe(10);
  });
});

describe("solution fields", () => {
  it("a replay frame: u of the frame at or before the checkpoint, error = u - exact, u range over all frames", () => {
    const rep = {
      unknowns: ["u"], dims: ["x"], coords: { x: [0, 1, 3] }, frames: [0, 2],
      u: b64([0, 1, 2, 10, 11, 12]), exact: b64([1, 1, 1]), rel_l2_error: b64([0.5, 0.25]),
    };
    const f = replayFields(rep, 1, "u", [0, 100, 200])!; // checkpoint 1 shows frame 0
    expect(Array.from(f.u)).toEqual([0, 1, 2]);
    expect(Array.from(f.error!)).toEqual([-1, 0, 1]);
    expect(f.ranges.u).toEqual([0, 12]); // fixed over the replay
    expect(f.ranges.err).toBe(1);
    expect(f.title).toContain("checkpoint 1 (step 0)");
    const g = replayFields(rep, 2, "u", [0, 100, 200])!;
    expect(Array.from(g.u)).toEqual([10, 11, 12]);
    expect(g.title).toContain("rel. L2 error 0.25");
  });
  it("a clicked point of a system picks the chosen unknown", () => {
    const sol = { unknowns: ["u", "p"], dims: ["x"], coords: { x: [0, 1, 2] }, has_exact: true,
      values: b64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), title: "t" };
    const f = pointFields(sol, "p")!;
    expect([Array.from(f.u), Array.from(f.exact!), Array.from(f.error!)]).toEqual([[7, 8], [9, 10], [11, 12]]);
  });
});

describe("surface and path", () => {
  it("contour levels fall on half the tick step, strictly inside the range", () => {
    expect(contourValues({ values: [0, 1, 2], labels: [] }, 0, 2)).toEqual([0.5, 1, 1.5]);
  });
  it("a checkpoint's height: its own loss on the plot's scale, clamped to the range", () => {
    const g = { scaled: { z: new Float32Array([0, 1, 2, 3]), min: -2, max: 1, nonFinite: 0, clipped: 0 },
      nA: 2, nB: 2, a: [-1, 1] as [number, number], b: [-1, 1] as [number, number] };
    expect(plottedLoss(0.1, g, true, 0, 0, 0)).toBeCloseTo(-1, 6);
    expect(plottedLoss(1e6, g, true, 0, 0, 0)).toBe(1);
    expect(plottedLoss(-3, g, false, -3.5, 0, 0)).toBeCloseTo(0.5, 12); // Deep Ritz: loss - E*
    expect(plottedLoss(NaN, g, true, 0, 0.5, 0.5)).toBeCloseTo(1, 6); // unknown loss: the surface under it (clamped)
  });
  it("the marker moves linearly between checkpoints", () => {
    const pts = [new THREE.Vector3(0, 0, 0), new THREE.Vector3(2, 0, 0), new THREE.Vector3(2, 2, 0)];
    expect(markerAt(pts, 0.5).toArray()).toEqual([1, 0, 0]);
    expect(markerAt(pts, 1.25).toArray()).toEqual([2, 0.5, 0]);
    expect(markerAt(pts, 9).toArray()).toEqual([2, 2, 0]);
  });
});
