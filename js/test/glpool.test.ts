import { describe, expect, it } from "vitest";
import { ContextBudget, LossLog, drawingSize, onScreen, pageBudget, pictureRect } from "../src/glpool";
import { solidColor } from "../src/lib";

class Holder {
  released = 0;
  constructor(readonly name: string) {}
  release() {
    this.released++;
  }
}

describe("ContextBudget", () => {
  it("asks the holder that drew least recently to give its context back past the limit", () => {
    const b = new ContextBudget(2);
    const [x, y, z] = [new Holder("x"), new Holder("y"), new Holder("z")];
    expect(b.acquire(x)).toEqual([]);
    expect(b.acquire(y)).toEqual([]);
    b.touch(x); // x drew after y: y is now the least recent
    expect(b.acquire(z)).toEqual([y]);
    expect(y.released).toBe(1);
    expect(x.released + z.released).toBe(0);
    expect(b.holders).toEqual([x, z]);
  });

  it("never holds more than its limit, however many copies of the bundle ask", () => {
    const b = new ContextBudget(3);
    const hs = Array.from({ length: 10 }, (_, k) => new Holder(String(k)));
    for (const h of hs) b.acquire(h);
    expect(b.holders.length).toBe(3);
    expect(b.holders).toEqual(hs.slice(7));
    expect(hs.slice(0, 7).every((h) => h.released === 1)).toBe(true);
  });

  it("acquiring again or touching does not count a holder twice; release forgets it", () => {
    const b = new ContextBudget(2);
    const x = new Holder("x");
    b.acquire(x);
    b.acquire(x);
    b.touch(x);
    expect(b.holders).toEqual([x]);
    b.release(x);
    b.release(x);
    expect(b.holders).toEqual([]);
    expect(x.released).toBe(0); // releasing is the holder's own doing: it is not asked to
  });

  it("a holder whose release throws (its widget went away) still leaves the budget", () => {
    const b = new ContextBudget(1);
    const bad = { release: () => { throw new Error("gone"); } };
    const x = new Holder("x");
    b.acquire(bad);
    expect(b.acquire(x)).toEqual([bad]);
    expect(b.holders).toEqual([x]);
  });

  it("is one object per page, shared through a global symbol", () => {
    expect(pageBudget()).toBe(pageBudget());
    expect((globalThis as any)[Symbol.for("pinn-landscape-widget.webgl-budget.v1")]).toBe(pageBudget());
    expect(pageBudget().limit).toBeLessThan(16); // Chromium's own limit per page
  });
});

describe("LossLog", () => {
  it("gives WebGL up after max losses within the window, not for losses spread out", () => {
    const log = new LossLog(3, 1000);
    expect(log.lost(0)).toBe(false);
    expect(log.lost(500)).toBe(false);
    expect(log.lost(1600)).toBe(false); // 0 and 500 have left the window: one loss in it
    expect(log.lost(1700)).toBe(false);
    expect(log.lost(2500)).toBe(true); // 1600, 1700, 2500: three within 1000 ms
  });
});

describe("drawingSize", () => {
  it("grows in steps to fit the largest picture asked for and never shrinks", () => {
    expect(drawingSize([0, 0], [300, 200])).toEqual([320, 256]);
    expect(drawingSize([320, 256], [310, 250])).toEqual([320, 256]); // fits: no reallocation
    expect(drawingSize([320, 256], [100, 600])).toEqual([320, 640]);
    expect(drawingSize([320, 640], [1200, 900])).toEqual([1216, 960]); // a 2x PNG export
    expect(drawingSize([1216, 960], [300, 200])).toEqual([1216, 960]);
    expect(drawingSize([0, 0], [1, 1], 64)).toEqual([64, 64]);
  });
});

describe("pictureRect", () => {
  it("is the canvas' lower-left w x h (WebGL's viewport origin) in image coordinates", () => {
    expect(pictureRect(640, 300, 200)).toEqual([0, 440, 300, 200]);
    expect(pictureRect(200, 300, 200)).toEqual([0, 0, 300, 200]);
  });
});

describe("onScreen", () => {
  const box = (top: number, left = 10, w = 300, h = 200) =>
    ({ top, left, bottom: top + h, right: left + w, width: w, height: h });
  it("counts a box that overlaps the viewport or its margin, not one beyond it or with no size", () => {
    expect(onScreen(box(100), 1000, 700)).toBe(true);
    expect(onScreen(box(690), 1000, 700)).toBe(true);
    expect(onScreen(box(-199), 1000, 700)).toBe(true);
    expect(onScreen(box(800), 1000, 700)).toBe(false);
    expect(onScreen(box(800), 1000, 700, 150)).toBe(true);
    expect(onScreen(box(-200), 1000, 700)).toBe(false);
    expect(onScreen(box(100, 1100), 1000, 700)).toBe(false);
    expect(onScreen(box(100, 10, 0, 0), 1000, 700)).toBe(false); // display: none
  });
});

describe("solidColor", () => {
  it("drops the alpha of rgba() colours and leaves others as they are", () => {
    expect(solidColor("rgba(0, 0, 0, 0.87)")).toBe("rgb(0, 0, 0)");
    expect(solidColor(" rgba(255,255,255,1) ")).toBe("rgb(255, 255, 255)");
    expect(solidColor("#222222")).toBe("#222222");
    expect(solidColor("rgb(1, 2, 3)")).toBe("rgb(1, 2, 3)");
    expect(solidColor("white")).toBe("white");
  });
});
