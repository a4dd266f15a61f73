import { describe, expect, it } from "vitest";
import {
  badgeText,
  fingerprint,
  gapNotes,
  hashBytes,
  buildSurface, colormap, colormapLUT, contourLevels, contourSegments, decodeFloat32, formatTicks, isSoftwareRenderer,
  logTicks, powerOfTen, scaleValues, tickStep, ticks,
} from "../src/lib";

describe("decodeFloat32", () => {
  it("reads DataView, ArrayBuffer, typed arrays and base64 alike", () => {
    const src = new Float32Array([1.5, -2, Number.NaN]);
    const bytes = new Uint8Array(src.buffer);
    const b64 = btoa(String.fromCharCode(...bytes));
    for (const input of [new DataView(src.buffer), src.buffer, bytes, b64]) {
      const out = decodeFloat32(input);
      expect(Array.from(out.slice(0, 2))).toEqual([1.5, -2]);
      expect(Number.isNaN(out[2])).toBe(true);
    }
    expect(decodeFloat32(null).length).toBe(0);
  });
  it("decodes a DataView with an offset into a larger buffer", () => {
    const buf = new Float32Array([9, 1, 2, 9]).buffer;
    expect(Array.from(decodeFloat32(new DataView(buf, 4, 8)))).toEqual([1, 2]);
  });
});

describe("scaleValues", () => {
  it("log scale of loss minus reference, clipping values at or below it", () => {
    const s = scaleValues(new Float32Array([-2.5, -2.4, -1.5, Infinity, Number.NaN]), "log", -2.5);
    // differences 0, 0.1, 1: floor is 0.1 / 10
    expect(s.z[0]).toBeCloseTo(-2, 6);
    expect(s.z[1]).toBeCloseTo(-1, 5);
    expect(s.z[2]).toBeCloseTo(0, 6);
    expect(Number.isNaN(s.z[3]) && Number.isNaN(s.z[4])).toBe(true);
    expect(s.nonFinite).toBe(2);
    expect(s.clipped).toBe(1);
    expect(s.min).toBeCloseTo(-2, 6);
    expect(s.max).toBeCloseTo(0, 6);
  });
  it("linear scale keeps values and reports the finite range", () => {
    const s = scaleValues(new Float32Array([3, 1, 2]), "linear", null);
    expect(Array.from(s.z)).toEqual([3, 1, 2]);
    expect([s.min, s.max]).toEqual([1, 3]);
  });
  it("an all-NaN grid still gives a usable range", () => {
    const s = scaleValues(new Float32Array([Number.NaN, Number.NaN]), "log", null);
    expect([s.min, s.max, s.nonFinite]).toEqual([0, 1, 2]);
  });
});

describe("buildSurface", () => {
  it("places vertices on [-1, 1]^2 with heights from the scaled range", () => {
    const s = scaleValues(new Float32Array([0, 1, 2, 3, 4, 5]), "linear", null);
    const m = buildSurface(s, 2, 3, 2.0, "viridis");
    expect(Array.from(m.positions.slice(0, 3))).toEqual([-1, -1, 0]);
    expect(Array.from(m.positions.slice(15, 18))).toEqual([1, 1, 2]);
    expect(m.positions[3 * 1 + 1]).toBe(0); // j = 1 of 3 is the middle
    expect(m.index.length).toBe(2 * 2 * 3); // 2 cells x 2 triangles
  });
  it("leaves out every cell touching a NaN", () => {
    const v = new Float32Array(9).fill(1);
    v[4] = Number.NaN; // the centre of a 3 x 3 grid touches all 4 cells
    const m = buildSurface(scaleValues(v, "linear", null), 3, 3, 1, "viridis");
    expect(m.index.length).toBe(0);
    v[4] = 1;
    v[0] = Number.POSITIVE_INFINITY;
    expect(buildSurface(scaleValues(v, "linear", null), 3, 3, 1, "viridis").index.length).toBe(3 * 6);
  });
});

describe("colormap", () => {
  it("hits the viridis end points and clamps", () => {
    expect(colormap("viridis", 0).map((c) => Math.round(c * 255))).toEqual([68, 1, 84]);
    expect(colormap("viridis", 1).map((c) => Math.round(c * 255))).toEqual([253, 231, 37]);
    expect(colormap("viridis", 7)).toEqual(colormap("viridis", 1));
    expect(colormap("gray", 0.5).map((c) => Math.round(c * 255))).toEqual([128, 128, 128]);
  });
});

describe("contours", () => {
  it("marching squares finds the level line of a plane exactly", () => {
    // z = i on a 3 x 3 grid: the level 0.5 is the line i = 0.5 across both cells of that row
    const z = new Float32Array([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const seg = contourSegments(z, 3, 3, 0.5);
    expect(seg.length).toBe(2 * 4);
    for (let k = 0; k < seg.length; k += 2) expect(seg[k]).toBeCloseTo(0.5, 12);
  });
  it("levels sit strictly inside the range; ticks are round", () => {
    expect(contourLevels(0, 10, 4)).toEqual([2, 4, 6, 8]);
    expect(contourLevels(1, 1, 4)).toEqual([]);
    expect(ticks(-1, 1, 4)).toEqual([-1, -0.5, 0, 0.5, 1]);
  });
});

describe("isSoftwareRenderer", () => {
  it("recognises software rasterizers and nothing else", () => {
    for (const name of ["ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)",
      "llvmpipe (LLVM 15.0.6, 256 bits)", "Microsoft Basic Render Driver", "softpipe"]) {
      expect(isSoftwareRenderer(name)).toBe(true);
    }
    for (const name of ["ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)",
      "Apple M2", "Mesa Intel(R) UHD Graphics 620 (KBL GT2)", ""]) {
      expect(isSoftwareRenderer(name)).toBe(false);
    }
  });
});

describe("ticks", () => {
  it("steps are 1, 2 or 5 times a power of ten", () => {
    expect(tickStep(0, 1, 5)).toBeCloseTo(0.2, 12);
    expect(tickStep(0, 7, 5)).toBe(2);
    expect(tickStep(-3e-4, 3e-4, 4)).toBeCloseTo(2e-4, 16);
    expect(ticks(-0.9, 0.9, 4)).toEqual([-0.5, 0, 0.5]);
  });
  it("labels share one format", () => {
    expect(formatTicks([-1, -0.5, 0, 0.5, 1])).toEqual(["-1.0", "-0.5", "0.0", "0.5", "1.0"]);
    expect(formatTicks([0, 20, 40])).toEqual(["0", "20", "40"]);
    expect(formatTicks([0.25, 0.5, 0.75])).toEqual(["0.25", "0.50", "0.75"]);
    expect(formatTicks([0, 2e5, 4e5])).toEqual(["0", "2.00e+5", "4.00e+5"]);
  });
  it("log ticks: whole decades written as powers of ten, round values within a decade", () => {
    expect(powerOfTen(-3)).toBe("10\u207b\u00b3");
    expect(powerOfTen(12)).toBe("10\u00b9\u00b2");
    const t = logTicks(-3.4, 1.2, 5);
    expect(t.values).toEqual([-3, -2, -1, 0, 1]);
    expect(t.labels[0]).toBe("10\u207b\u00b3");
    const wide = logTicks(-12, 6, 5); // every 4th decade
    expect(wide.values).toEqual([-12, -8, -4, 0, 4]);
    const narrow = logTicks(Math.log10(2), Math.log10(8), 4); // within one decade: 2, 4, 6, 8
    expect(narrow.labels).toEqual(["2", "4", "6", "8"]);
    narrow.values.forEach((v, k) => expect(Math.pow(10, v)).toBeCloseTo(Number(narrow.labels[k]), 9));
  });
});

describe("colour scales", () => {
  it("cividis, the colour-vision-deficiency-safe map, has its published end points", () => {
    expect(colormap("cividis", 0).map((c) => Math.round(c * 255))).toEqual([0, 34, 78]);
    expect(colormap("cividis", 1).map((c) => Math.round(c * 255))).toEqual([254, 232, 56]);
  });
  it("the lookup table matches the colormap", () => {
    const lut = colormapLUT("viridis");
    expect(Array.from(lut.slice(0, 3))).toEqual([68, 1, 84]);
    expect(Array.from(lut.slice(255 * 3))).toEqual([253, 231, 37]);
    const mid = colormap("viridis", 128 / 255).map((c) => Math.round(c * 255));
    expect(Array.from(lut.slice(128 * 3, 128 * 3 + 3))).toEqual(mid);
  });
});

describe("fingerprint", () => {
  it("binary buffers compare by their bytes, whatever view holds them", () => {
    const a = new Float32Array([1, 2, 3, Number.NaN]);
    const big = new Uint8Array(32);
    big.set(new Uint8Array(a.buffer), 8);
    const view = new DataView(big.buffer, 8, 16);
    expect(fingerprint(view)).toBe(fingerprint(a.buffer));
    expect(fingerprint({ grid: a })).toBe(fingerprint({ grid: new Float32Array([1, 2, 3, Number.NaN]) }));
    expect(fingerprint({ grid: a })).not.toBe(fingerprint({ grid: new Float32Array([1, 2, 3.0000002, Number.NaN]) }));
  });
  it("objects compare by content, whatever the key order; any changed field changes it", () => {
    expect(fingerprint({ a: 1, b: [2, "x"] })).toBe(fingerprint({ b: [2, "x"], a: 1 }));
    expect(fingerprint({ a: 1, b: [2, "x"] })).not.toBe(fingerprint({ a: 1, b: [2, "y"] }));
    expect(fingerprint({ a: null })).not.toBe(fingerprint({ a: 0 }));
  });
  it("FNV-1a of known inputs", () => {
    // reference values of 32-bit FNV-1a: "" -> 811c9dc5, "a" -> e40c292c, "foobar" -> bf9cf968
    expect(hashBytes(new Uint8Array(0))).toBe("811c9dc5");
    expect(hashBytes(new TextEncoder().encode("a"))).toBe("e40c292c");
    expect(hashBytes(new TextEncoder().encode("foobar"))).toBe("bf9cf968");
  });
});

describe("gapNotes", () => {
  it("says nothing for a grid without gaps", () => {
    expect(gapNotes(0, 0, 9)).toEqual([]);
  });
  it("counts the landscape's own NaN/inf values", () => {
    expect(gapNotes(2, 0, 9)).toEqual(["2 point(s) NaN/inf: drawn as gaps"]);
  });
  it("tells cells still on the cluster from the landscape's own NaN/inf", () => {
    // 9 points, 6 not landed yet, and one landed value that is NaN
    expect(gapNotes(7, 6, 9)).toEqual([
      "3 of 9 points computed: the rest still on the cluster (gaps)",
      "1 point(s) NaN/inf: drawn as gaps",
    ]);
    expect(gapNotes(6, 6, 9)).toEqual(["3 of 9 points computed: the rest still on the cluster (gaps)"]);
  });
});

describe("a partial grid (tiles landing)", () => {
  it("scales and builds a surface of the landed rows only, the rest left out", () => {
    const nan = Number.NaN;
    // 3 x 3, the first row landed, two rows pending
    const s = scaleValues(new Float32Array([1, 2, 3, nan, nan, nan, nan, nan, nan]), "log", null);
    expect(s.nonFinite).toBe(6);
    expect([s.min, s.max]).toEqual([0, Math.log10(3)]);
    expect(buildSurface(s, 3, 3, 1, "viridis").index.length).toBe(0); // no cell has 4 landed corners yet
    const two = scaleValues(new Float32Array([1, 2, 3, 4, 5, 6, nan, nan, nan]), "linear", null);
    expect(buildSurface(two, 3, 3, 1, "viridis").index.length).toBe(2 * 6); // the two cells of rows 0-1
    expect(contourSegments(two.z, 3, 3, 3.5).length).toBeGreaterThan(0);
  });
});

describe("badgeText", () => {
  it("says what a preview's points were, and nothing once the full grid is drawn", () => {
    expect(badgeText("preview", "on 1024 of 16896 points")).toBe("preview on 1024 of 16896 points");
    expect(badgeText("preview", "")).toBe("preview");
    expect(badgeText("preview")).toBe("preview");
    expect(badgeText("computing", "on 1024 of 16896 points")).toBe("computing…");
    expect(badgeText("done", "on 1024 of 16896 points")).toBe("");
  });
});
