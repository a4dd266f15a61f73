import { describe, expect, it } from "vitest";
import { restoreState, savedPicture } from "../src/embed";

describe("restoreState", () => {
  it("puts base64 and hex buffers back at their (nested) paths as DataViews", () => {
    const f = new Float32Array([1.5, -2, Number.NaN]);
    const b64 = btoa(String.fromCharCode(...new Uint8Array(f.buffer)));
    const hex = "0102ff";
    const saved = {
      model_name: "AnyModel", model_module: "anywidget",
      state: { grid_shape: [3], static_slices: { '["a","pca","strong"]': { title: "t" } } },
      buffers: [
        { path: ["grid"], data: b64, encoding: "base64" as const },
        { path: ["static_slices", '["a","pca","strong"]', "grid"], data: b64, encoding: "base64" as const },
        { path: ["raw"], data: hex, encoding: "hex" as const },
      ],
    };
    const state: any = restoreState(saved);
    const grid = new Float32Array(state.grid.buffer);
    expect(Array.from(grid.slice(0, 2))).toEqual([1.5, -2]);
    expect(Number.isNaN(grid[2])).toBe(true);
    const nested = state.static_slices['["a","pca","strong"]'];
    expect(nested.title).toBe("t");
    expect(new Float32Array(nested.grid.buffer)[0]).toBe(1.5);
    expect(Array.from(new Uint8Array(state.raw.buffer))).toEqual([1, 2, 255]);
    expect((saved.state as any).grid).toBeUndefined(); // the saved state itself is left as it was
  });
});

describe("savedPicture", () => {
  it("makes a data: URL of the PNG a view carries, and nothing of a missing or odd one", () => {
    expect(savedPicture({ model_id: "m", plw_saved_png: "iVBORw0K\nGgo=" })).toBe("data:image/png;base64,iVBORw0KGgo=");
    expect(savedPicture({ model_id: "m" })).toBe("");
    expect(savedPicture({ model_id: "m", plw_saved_png: 42 })).toBe("");
    expect(savedPicture({ model_id: "m", plw_saved_png: "x\" onerror=\"alert(1)" })).toBe("");
  });
});
