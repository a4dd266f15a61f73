// A page that mounts anywidget nodes exactly as a MyST site (Jupyter Book 2) does: through the theme's own
// renderer for the `anywidget` node type (@myst-theme/anywidget's ANY_RENDERERS), in React. The nodes come
// from nodes.json next to the page, as the MyST parser or build made them (parse.mjs, tests/test_*myst*).
import React from "react";
import { createRoot } from "react-dom/client";
import { ANY_RENDERERS } from "@myst-theme/anywidget";

const Renderer = ANY_RENDERERS.anywidget;

const nodes = await (await fetch("./nodes.json")).json();
const root = document.getElementById("root");
createRoot(root).render(
  <>
    {nodes.map((node, i) => (
      <div className="myst-page-block" key={i} data-node={i}>
        <Renderer node={node} />
      </div>
    ))}
  </>,
);
window.mystNodes = nodes.length;
