import { BASE_CSS } from '../../report/style.js';

/** The simulator report's inline stylesheet: the report kit's base, then its layout and charts. */
export const REPORT_CSS = `${BASE_CSS}.page{max-width:1440px;margin:0 auto;padding:28px 32px 48px}
.page.single{max-width:980px}
header.top{padding-bottom:20px;border-bottom:1px solid var(--line);margin-bottom:8px}
.brand{font-size:12px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
h1{font-size:28px;line-height:1.2;margin:6px 0 6px;font-weight:650;letter-spacing:-.01em}
.desc{margin:0 0 14px;color:#334155;max-width:80ch;white-space:pre-line}
.meta{display:flex;flex-wrap:wrap;gap:8px;margin:0;padding:0;list-style:none}
.meta li{background:var(--card);border:1px solid var(--line);border-radius:999px;padding:3px 12px;font-size:13px;color:#334155}
.meta b{font-weight:600;color:var(--fg);margin-left:4px}
section{margin-top:30px}
section>h2{font-size:17px;margin:0 0 2px;font-weight:650}
section>p.lead{margin:0 0 12px;color:var(--muted);font-size:13px;max-width:100ch}
.row{display:grid;grid-template-columns:repeat(var(--cols),minmax(0,1fr));gap:20px}
.cell{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px 12px;min-width:0}
.cell>h3{font-size:12px;font-weight:600;color:var(--muted);margin:0 0 8px;letter-spacing:.02em;display:flex;align-items:center;gap:8px}
.cell>h3 .run{color:var(--fg);font-size:13px}
.dot{width:8px;height:8px;border-radius:50%;display:inline-block}
.dot.good{background:var(--green)}
.dot.bad{background:var(--red)}
.cell>h4{font-size:13px;font-weight:600;margin:14px 0 4px;color:#334155}
.cell>h4:first-of-type{margin-top:2px}
.run-head{display:flex;align-items:baseline;justify-content:space-between;gap:12px;margin-bottom:12px}
.run-head h2{font-size:20px;margin:0;font-weight:650}
.badge{display:inline-block;font-size:11px;font-weight:600;border-radius:999px;padding:1px 9px;border:1px solid;white-space:nowrap;letter-spacing:.02em}
.badge.good{color:var(--green);background:var(--green-bg);border-color:#b2f2bb}
.badge.bad{color:var(--red);background:var(--red-bg);border-color:#ffc9c9}
.cards{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fbfcfd}
.card .label{font-size:12px;color:var(--muted);font-weight:500}
.card .value{font-size:28px;font-weight:650;line-height:1.15;letter-spacing:-.01em}
.card .sub{font-size:12px;color:var(--muted)}
.card.bad{background:var(--red-bg);border-color:#ffc9c9}
.card.bad .value,.card.bad .label{color:var(--red)}
.card.good{background:var(--green-bg);border-color:#b2f2bb}
.card.good .value{color:var(--green)}
.card.violations .label{font-weight:700;letter-spacing:.04em;text-transform:uppercase;font-size:11px}
.foot{font-size:12px;color:var(--faint);margin-top:8px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
svg.chart text{font-size:11px;fill:#475569}
svg.chart .legend{fill:#334155}
svg.chart .legend-small{font-size:10px;fill:var(--muted)}
svg.chart .axis-label{fill:var(--muted)}
svg.chart .value{fill:#334155;font-weight:600}
svg.chart .empty{font-size:13px;fill:var(--faint)}
svg.chart .grid{stroke:#edf0f4}
svg.chart .axis{stroke:#a0aab8}
svg.chart .line{fill:none;stroke-width:1.6;stroke-linejoin:round}
svg.chart .area{fill-opacity:.13;stroke:none}
svg.chart .bands rect{fill:transparent}
svg.chart .bands rect:hover{fill:rgba(15,23,42,.06)}
svg.chart.map{overflow:hidden}
svg.map .legend-strip{fill:var(--card)}
svg.map .sphere{fill:#f3f6fa;stroke:#e2e8f0;stroke-width:.8}
svg.map .land path{fill:#e6eaf0;stroke:#fff;stroke-width:.6}
svg.map .land path:hover{fill:#d8dee7}
svg.map .flows path{fill:none;stroke-linecap:round}
svg.map .flows path:hover{stroke-opacity:1}
svg.map .dcs circle{stroke:#1e293b;stroke-width:.9}
table{width:100%;border-collapse:collapse;font-size:13px}
th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;border-bottom:1px solid var(--line);padding:6px 8px}
td{padding:5px 8px;border-bottom:1px solid #f1f3f6;vertical-align:baseline}
.num{text-align:right;white-space:nowrap}
td.strong{font-weight:650}
.code{font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);background:#f1f3f6;border-radius:4px;padding:0 4px}
tr.violation td{background:var(--red-bg);color:#7d1d1d}
tr.violation .code{background:#ffe3e3;color:var(--red)}
tr.more td{color:var(--muted);font-style:italic;border-bottom:0}
.table-wrap{max-height:none}
.empty-note{color:var(--muted);margin:6px 0}
.empty-note.good{color:var(--green)}
details{margin-top:34px;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 16px}
summary{cursor:pointer;font-weight:600}
pre{font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow:auto;max-height:480px;margin:10px 0 4px}
footer{margin-top:28px;color:var(--faint);font-size:12px}
@media (max-width:900px){.row{grid-template-columns:minmax(0,1fr)}.cards{grid-template-columns:repeat(2,minmax(0,1fr))}}
@media print{body{background:#fff}.cell,details{break-inside:avoid}}
`;
