/** The report kit's base stylesheet: one palette, system fonts, tabular figures, SVG that scales to its column. Each report adds its layout. */
export const BASE_CSS = `
:root{--fg:#0f172a;--muted:#64748b;--faint:#94a3b8;--line:#e2e8f0;--bg:#f6f7f9;--card:#fff;--red:#c92a2a;--red-bg:#fff1f1;--green:#2b8a3e;--green-bg:#ebfbee;--amber:#b45309;--blue:#2563eb}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-variant-numeric:tabular-nums}
`;

/** Series colours, in the order series are ranked; anything past them is `OTHER_COLOR`. */
export const PALETTE = ['#2563eb', '#c92a2a', '#2b8a3e', '#b45309', '#7048e8', '#0c8599', '#d6336c', '#5c940d'] as const;
export const OTHER_COLOR = '#adb5bd';
