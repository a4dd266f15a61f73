// Widget CSS, inlined into the bundle so the same ESM works in notebooks and static pages.
// Colors follow JupyterLab's theme variables where they exist, with light defaults elsewhere.
export const CSS = `
.plw-root { --plw-fg: var(--jp-ui-font-color1, #222); --plw-muted: var(--jp-ui-font-color2, #555);
  --plw-bg: var(--jp-layout-color0, #fff); --plw-bg2: var(--jp-layout-color1, #f7f7f7);
  --plw-line: var(--jp-border-color2, #ddd); --plw-accent: var(--jp-brand-color1, #1f6feb);
  font: 13px/1.4 var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  color: var(--plw-fg); background: var(--plw-bg); border: 1px solid var(--plw-line); border-radius: 6px;
  padding: 8px; box-sizing: border-box; width: 100%; min-width: 0; }
.plw-root *, .plw-root *::before, .plw-root *::after { box-sizing: border-box; }
.plw-header { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; }
.plw-title { flex: 1 1 auto; font-weight: 600; font-size: 15px; min-height: 1em; }
.plw-body { display: flex; gap: 10px; align-items: flex-start; }
.plw-content { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; gap: 8px; }

/* side panel */
.plw-sidebar { flex: 0 0 224px; display: flex; flex-direction: column; gap: 6px; }
.plw-group { border: 1px solid var(--plw-line); border-radius: 6px; background: var(--plw-bg2); }
.plw-group > summary { cursor: pointer; padding: 4px 8px; font-weight: 600; list-style-position: inside; }
.plw-group-body { padding: 2px 8px 8px; display: flex; flex-direction: column; gap: 5px; }
.plw-row { display: grid; grid-template-columns: 84px minmax(0, 1fr) auto; align-items: center; gap: 6px; }
.plw-row > label { color: var(--plw-muted); }
.plw-row select, .plw-row input[type=number] { font: inherit; width: 100%; min-width: 0; padding: 2px 4px;
  background: var(--plw-bg); color: inherit; border: 1px solid var(--jp-border-color1, #bbb); border-radius: 4px; }
.plw-row input[type=range] { width: 100%; min-width: 0; margin: 0; }
.plw-row output { min-width: 2.4em; text-align: right; font-variant-numeric: tabular-nums; }
.plw-checks { display: grid; grid-template-columns: 1fr 1fr; gap: 2px 8px; }
.plw-check { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
.plw-buttons { display: flex; flex-wrap: wrap; gap: 4px; }
.plw-btn { font: inherit; padding: 3px 10px; border-radius: 4px; border: 1px solid var(--jp-border-color1, #bbb);
  background: var(--plw-bg); color: inherit; cursor: pointer; }
.plw-btn:hover:not(:disabled) { border-color: var(--plw-accent); }
.plw-btn:disabled, .plw-root select:disabled, .plw-root input:disabled { opacity: 0.5; cursor: not-allowed; }
.plw-root :focus-visible { outline: 2px solid var(--plw-accent); outline-offset: 2px; }
.plw-root canvas:focus-visible { outline-offset: -2px; }

/* panels */
.plw-panels { display: grid; gap: 8px; min-width: 0; }
.plw-panel { position: relative; min-width: 0; border: 1px solid transparent; border-radius: 6px; padding: 2px; }
.plw-panels .plw-panel.plw-selected { border-color: var(--plw-line); }
.plw-panels:has(.plw-panel + .plw-panel) .plw-panel.plw-selected { border-color: var(--plw-accent); }
.plw-panel-head { display: flex; align-items: center; gap: 4px; min-height: 22px; }
.plw-caption { flex: 1 1 auto; color: var(--plw-muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.plw-icon-btn { font: inherit; font-size: 16px; line-height: 1; width: 24px; height: 22px; border-radius: 4px;
  border: 1px solid transparent; background: transparent; color: var(--plw-muted); cursor: pointer; }
.plw-icon-btn:hover { border-color: var(--plw-line); }
.plw-panel-body { display: flex; gap: 4px; align-items: flex-start; }
.plw-panel-body.plw-bar-below { flex-direction: column; }
.plw-canvas { position: relative; overflow: hidden; flex: 0 0 auto; }
.plw-canvas canvas { display: block; touch-action: none; }
.plw-labels { position: absolute; inset: 0; pointer-events: none; }
.plw-marker { position: absolute; left: 0; top: 0; display: none; pointer-events: none; border-radius: 50%;
  background: #fff; border: 2.5px solid #111; box-shadow: 0 0 0 1.5px rgba(255,255,255,0.8); will-change: transform; }
.plw-label { position: absolute; left: 0; top: 0; white-space: nowrap; color: var(--plw-fg);
  text-shadow: 0 0 2px var(--plw-bg), 0 0 2px var(--plw-bg), 0 0 3px var(--plw-bg); }
.plw-label-vertical { writing-mode: vertical-rl; }
.plw-colorbar { flex: 0 0 auto; pointer-events: none; }
.plw-tip { position: absolute; display: none; pointer-events: none; background: rgba(20,20,20,0.88); color: #fff;
  padding: 3px 7px; border-radius: 4px; white-space: nowrap; z-index: 3; }
.plw-note { position: absolute; left: 4px; bottom: 2px; right: 4px; color: #a04a00; pointer-events: none; z-index: 2;
  text-shadow: 0 0 3px var(--plw-bg); }
.plw-note-error { color: #b00020; }
.plw-saved-picture { grid-column: 1 / -1; margin: 0; }
.plw-saved-picture img { display: block; max-width: 100%; height: auto; }
.plw-saved-caption { color: #a04a00; margin-top: 2px; }
.plw-badge { position: absolute; right: 6px; top: 4px; display: none; padding: 1px 8px; border-radius: 10px;
  background: var(--plw-bg2); border: 1px solid var(--plw-line); color: var(--plw-muted); z-index: 2; }
.plw-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

/* replay, solution, history */
.plw-replay { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; padding: 4px 6px;
  border: 1px solid var(--plw-line); border-radius: 6px; background: var(--plw-bg2); }
.plw-replay-label { font-weight: 600; }
.plw-replay input[type=range] { flex: 1 1 160px; min-width: 120px; }
.plw-replay-readout { color: var(--plw-muted); font-variant-numeric: tabular-nums; flex: 1 1 100%; }
.plw-replay.plw-off .plw-replay-readout { color: #a04a00; }
.plw-play { min-width: 5.5em; }
.plw-bottom { display: flex; flex-wrap: wrap; gap: 10px; }
.plw-solution-box { flex: 3 1 360px; min-width: 0; }
.plw-solution-box.plw-wide { flex-basis: 100%; }
.plw-solution-head { display: flex; align-items: center; gap: 8px; min-height: 24px; }
.plw-sol-title { flex: 1 1 auto; color: var(--plw-muted); }
.plw-unknown { font: inherit; }
.plw-solution, .plw-history canvas { display: block; }
.plw-history { flex: 2 1 260px; min-width: 0; }
.plw-diag { margin-top: 8px; }
.plw-diag-head { font-weight: 600; font-size: 13px; }
.plw-diag-summary, .plw-diag-readout { font-size: 12px; margin: 2px 0; }
.plw-diag-plots { display: block; }
.plw-diag-legend { font-size: 12px; display: flex; gap: 14px; }
.plw-diag-swatch { display: inline-block; width: 16px; height: 3px; margin-right: 5px; vertical-align: middle; }

.plw-status { display: flex; gap: 8px; align-items: center; min-height: 18px; margin-top: 6px; color: var(--plw-muted); }
.plw-progress { width: 140px; }
.plw-error { display: none; color: #b00020; background: rgba(176,0,32,0.08); border-left: 3px solid #b00020;
  padding: 4px 8px; margin-top: 4px; white-space: pre-wrap; }

/* a narrow host (a Jupyter Book column, a split notebook): controls above, in two columns */
.plw-narrow .plw-body { flex-direction: column; align-items: stretch; }
.plw-narrow .plw-sidebar { flex: 0 0 auto; display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); }
`;
