// A panel's text labels as HTML over its canvas: always facing the reader, crisp at any zoom, readable
// by screen readers and tests, and laid out so that no two overlap (layoutLabels drops the lesser one).
import { Box, Label } from "./layout";
import { FONT_FAMILY, boxOf, layoutLabels } from "./plot2d";

/** The label moved (not resized) so its box lies inside bounds, where it fits. */
export function clampInto(l: Label, bounds: Box): Label {
  const b = boxOf(l);
  const dx = Math.max(bounds.x - b.x, Math.min(0, bounds.x + bounds.w - (b.x + b.w)));
  const dy = Math.max(bounds.y - b.y, Math.min(0, bounds.y + bounds.h - (b.y + b.h)));
  return dx || dy ? { ...l, x: l.x + dx, y: l.y + dy } : l;
}

export class LabelOverlay {
  readonly el: HTMLDivElement;
  private nodes: HTMLDivElement[] = [];
  /** What is shown now, for the PNG export (same positions, same choice of labels). */
  labels: Label[] = [];
  show: boolean[] = [];

  constructor() {
    this.el = document.createElement("div");
    this.el.className = "plw-labels";
    this.el.setAttribute("aria-hidden", "true"); // the canvas's text description says it all in words
  }

  update(labels: Label[], bounds: Box) {
    // a title is moved inside the view rather than dropped (a tick may go; an axis name must stay)
    labels = labels.map((l) => (l.kind === "title" ? clampInto(l, bounds) : l));
    this.labels = labels;
    this.show = layoutLabels(labels, bounds);
    while (this.nodes.length < labels.length) {
      const n = document.createElement("div");
      n.style.fontFamily = FONT_FAMILY;
      this.el.appendChild(n);
      this.nodes.push(n);
    }
    this.nodes.forEach((n, i) => {
      const l = labels[i];
      if (!l || !this.show[i]) {
        n.style.display = "none";
        return;
      }
      const b = boxOf(l);
      n.className = `plw-label plw-label-${l.kind}${l.rotate ? " plw-label-vertical" : ""}`;
      if (n.textContent !== l.text) n.textContent = l.text;
      n.style.display = "block";
      n.style.fontSize = `${l.size}px`;
      n.style.fontWeight = l.bold ? "600" : "400";
      n.style.lineHeight = `${Math.ceil(l.size * 1.25)}px`;
      n.style.transform = `translate(${Math.round(b.x)}px, ${Math.round(b.y)}px)${l.rotate ? " rotate(180deg)" : ""}`;
    });
  }
}
