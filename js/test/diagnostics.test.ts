import { describe, expect, it } from "vitest";
import { diagReadout, diagSeries } from "../src/diagnostics";

function bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

// two terms at three checkpoints (steps 0, 10, 20), row-major [step, term]
const payload = {
  steps: [0, 10, 20],
  terms: ["residual", "boundary"],
  series: { loss: bytes([4, 2, 3, 1, 2, 0.5]), imbalance: bytes([NaN, 1.5, NaN, -2, NaN, 7]) },
  titles: { loss: "loss per term", imbalance: "gradient imbalance vs residual" },
};

describe("diagnostics read-out", () => {
  it("reads the last diagnosed checkpoint at or before the replay's step", () => {
    expect(diagReadout(payload, 15)).toBe(
      "at step 10 (checkpoint 2 of 3 diagnosed): loss: residual 3, boundary 1 · " +
        "gradient imbalance vs residual: boundary -2");
    expect(diagReadout(payload, 20)).toContain("checkpoint 3 of 3");
    expect(diagReadout(payload, -5)).toContain("at step 0 (checkpoint 1 of 3");
  });

  it("plots a series on a log scale only when every finite value is positive", () => {
    const s = diagSeries(payload);
    expect(s.map((x) => [x.name, x.log])).toEqual([["loss", true], ["imbalance", false]]);
    expect(Array.from(s[0].values)).toEqual([4, 2, 3, 1, 2, 0.5]);
  });

  it("says nothing without checkpoints", () => {
    expect(diagReadout({}, 3)).toBe("");
  });
});
