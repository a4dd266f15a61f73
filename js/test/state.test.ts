import { describe, expect, it } from "vitest";
import { State } from "../src/state";

(globalThis as any).window ??= globalThis; // State's kernel timer (node has setTimeout on globalThis)

function model(state: Record<string, unknown>) {
  return { get: (k: string) => state[k], set: (k: string, v: unknown) => (state[k] = v), on() {}, off() {} };
}

describe("State.panelData", () => {
  it("puts each panel's slot numbers together with its own status", () => {
    const grid = new DataView(new Float32Array([1, 2, 3, 4]).buffer);
    const st = new State(model({
      panel_status: [{ slot: 2, status: "computing", message: "" }, { slot: 0, status: "error", message: "boom" },
        { slot: 2, status: "done" }],
      panel_0: { title: "a", grid_shape: [], status: "done" },
      panel_2: { title: "b", grid_shape: [2, 2], grid, status: "preview", serial: 3 },
    }), () => {});
    const data = st.panelData();
    expect(data.map((p) => [p.title, p.status, p.message])).toEqual([["b", "computing", ""], ["a", "error", "boom"],
      ["b", "done", ""]]);
    expect(data[0].grid).toBe(grid); // the same bytes, not a copy
    expect(data[2].serial).toBe(3);
    st.dispose();
  });

  it("keeps a page's own list (precomputed slices switched without a kernel) over the model's", () => {
    const st = new State(model({ panel_status: [{ slot: 0, status: "done" }], panel_0: { title: "kernel" } }), () => {});
    st.setLocal("panel_data", [{ title: "local", status: "done" }, { title: "second", status: "error" }]);
    expect(st.panelData().map((p) => p.title)).toEqual(["local", "second"]);
    st.dispose();
  });

  it("is empty before the kernel has sent any panel", () => {
    const st = new State(model({}), () => {});
    expect(st.panelData()).toEqual([]);
    st.dispose();
  });
});
