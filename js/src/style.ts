// Widget CSS, inlined into the bundle so the same ESM works in notebooks and static pages.
// Colors follow JupyterLab's theme variables where they exist, with light defaults elsewhere.
export const CSS = `
.plw-root { font: 12px/1.4 var(--jp-ui-font-family, system-ui, sans-serif); color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color0, #fff); border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px;
  padding: 6px; box-sizing: border-box; width: 100%; }
.plw-bar { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; margin-bottom: 4px; }
.plw-ctl { display: inline-flex; gap: 4px; align-items: center; }
.plw-ctl-label { color: var(--jp-ui-font-color2, #555); }
.plw-bar select, .plw-bar input[type=number] { font: inherit; max-width: 9em;
  background: var(--jp-layout-color1, var(--jp-layout-color0, #fff));
  color: inherit; border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px; }
.plw-bar input[type=number] { width: 4.5em; }
.plw-bar input[type=range] { width: 90px; }
.plw-val { min-width: 2.5em; display: inline-block; }
/* narrow hosts (a book column, a split notebook): the solution panel, then the second plot, wrap below */
.plw-main { display: flex; flex-wrap: wrap; gap: 6px; }
.plw-panels { display: flex; flex-wrap: wrap; flex: 1 1 460px; gap: 6px; min-width: 0; }
.plw-stage { position: relative; flex: 1 1 320px; height: 420px; min-width: 280px; }
.plw-caption { position: absolute; left: 4px; top: 2px; color: var(--jp-ui-font-color2, #555); pointer-events: none;
  z-index: 1; }
.plw-canvas, .plw-canvas canvas { display: block; }
.plw-slice { position: absolute; left: 0; top: 0; display: none; }
.plw-colorbar { position: absolute; right: 0; top: 8px; width: 70px; height: 200px; pointer-events: none; }
.plw-tip { position: absolute; display: none; pointer-events: none; background: rgba(20,20,20,0.85); color: #fff;
  padding: 3px 6px; border-radius: 3px; white-space: nowrap; z-index: 2; }
.plw-note { position: absolute; left: 4px; bottom: 2px; color: #b35c00; pointer-events: none; }
.plw-side { flex: 0 0 260px; }
.plw-sol-title { color: var(--jp-ui-font-color2, #555); min-height: 2.8em; }
.plw-status { display: flex; gap: 8px; align-items: center; min-height: 18px; }
.plw-progress { width: 140px; }
.plw-error { display: none; color: #b00020; background: rgba(176,0,32,0.08); border-left: 3px solid #b00020;
  padding: 4px 8px; margin-top: 4px; white-space: pre-wrap; }
`;
