// "Save PNG": the panels as one picture at ``scale`` times their CSS size (2 by default), with a title
// band, each panel's caption, view, axis labels and colorbar, laid out as on screen.
import { Panels } from "./panels";
import { FONT_FAMILY } from "./plot2d";

export const TITLE_BAND = 32; // CSS px above the panels

export interface Picture {
  blob: Blob;
  width: number; // device px
  height: number;
}

export async function composePng(panels: Panels, title: string, scale: number, bg: string, fg: string,
): Promise<Picture> {
  const box = panels.el.getBoundingClientRect();
  const W = Math.round(box.width);
  const H = Math.round(box.height) + TITLE_BAND;
  const c = document.createElement("canvas");
  c.width = W * scale;
  c.height = H * scale;
  const ctx = c.getContext("2d")!;
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.fillStyle = fg;
  ctx.textBaseline = "middle";
  ctx.font = `600 ${15 * scale}px ${FONT_FAMILY}`;
  ctx.fillText(title, 8 * scale, (TITLE_BAND / 2) * scale, (W - 16) * scale);
  for (const v of panels.views) {
    const r = v.root.getBoundingClientRect();
    const cr = v.canvas.getBoundingClientRect();
    const cap = v.root.querySelector(".plw-caption") as HTMLElement | null;
    if (cap) {
      const capBox = cap.getBoundingClientRect();
      ctx.font = `${12 * scale}px ${FONT_FAMILY}`;
      ctx.fillStyle = fg;
      ctx.fillText(cap.textContent ?? "", (capBox.left - box.left) * scale,
        (TITLE_BAND + capBox.top - box.top + capBox.height / 2) * scale, (r.width - 8) * scale);
    }
    v.exportTo(ctx, cr.left - box.left, TITLE_BAND + cr.top - box.top, scale, bg, fg);
  }
  const blob = await new Promise<Blob>((resolve, reject) =>
    c.toBlob((b) => (b ? resolve(b) : reject(new Error("the browser could not encode the PNG"))), "image/png"));
  return { blob, width: c.width, height: c.height };
}

/** Offer the picture as a download. */
export function download(blob: Blob, name: string) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  window.setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}
