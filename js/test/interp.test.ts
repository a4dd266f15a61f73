import { describe, expect, it } from "vitest";
import { bilinear, heatmapPixels, lastAtOrBefore, rowAt } from "../src/interp";
import { colormapLUT } from "../src/lib";

describe("bilinear", () => {
  it("reproduces a bilinear function exactly between grid points", () => {
    const nA = 4, nB = 3;
    const f = (i: number, j: number) => 2 + 3 * i - j + 0.5 * i * j;
    const z = new Float32Array(nA * nB);
    for (let i = 0; i < nA; i++) for (let j = 0; j < nB; j++) z[i * nB + j] = f(i, j);
    for (const [fi, fj] of [[0.25, 0.5], [1.7, 1.2], [2.999, 0.001], [0, 0], [3, 2]]) {
      expect(bilinear(z, nA, nB, fi, fj)).toBeCloseTo(f(fi, fj), 5);
    }
    expect(bilinear(z, nA, nB, -1, 5)).toBeCloseTo(f(0, 2), 5); // clamped to the grid
  });
  it("keeps gaps: NaN near a NaN corner, finite corners renormalised elsewhere", () => {
    const z = new Float32Array([1, 1, NaN, 1]); // 2 x 2, (1, 0) is NaN
    expect(Number.isNaN(bilinear(z, 2, 2, 0.9, 0.1))).toBe(true);
    expect(bilinear(z, 2, 2, 0.2, 0.8)).toBeCloseTo(1, 6);
  });
});

describe("heatmapPixels", () => {
  it("colours pixels by value with alpha right and beta up; NaN grey", () => {
    const z = new Float32Array([0, 0, 1, 1]); // 2 x 2: value grows with alpha (i)
    const lut = colormapLUT("gray");
    const px = heatmapPixels(z, 2, 2, 4, 2, 0, 1, lut);
    // left column darker than right column; each row identical (no beta dependence)
    expect(px[0]).toBeLessThan(px[4 * 3]);
    expect(px[0]).toBe(px[4 * 4]);
    const row: number[] = [];
    for (let x = 0; x < 4; x++) row.push(px[4 * x]);
    expect(row).toEqual([...row].sort((a, b) => a - b)); // smooth ramp, not two blocks
    expect(new Set(row).size).toBe(4);
    const nan = heatmapPixels(new Float32Array([NaN, NaN, NaN, NaN]), 2, 2, 2, 2, 0, 1, lut);
    expect(Array.from(nan.slice(0, 4))).toEqual([128, 128, 128, 255]);
  });
});

describe("replay helpers", () => {
  it("rowAt interpolates between rows and clamps at the ends", () => {
    const t = new Float32Array([0, 10, 2, 20, 4, 40]);
    expect(rowAt(t, 2, 0.5)).toEqual([1, 15]);
    expect(rowAt(t, 2, 7)).toEqual([4, 40]);
    expect(rowAt(t, 2, -1)).toEqual([0, 10]);
  });
  it("lastAtOrBefore finds the frame shown at a checkpoint", () => {
    const frames = [0, 10, 20, 30];
    expect(lastAtOrBefore(frames, 0)).toBe(0);
    expect(lastAtOrBefore(frames, 19)).toBe(1);
    expect(lastAtOrBefore(frames, 20)).toBe(2);
    expect(lastAtOrBefore(frames, 99)).toBe(3);
    expect(lastAtOrBefore(frames, -5)).toBe(0);
  });
});
