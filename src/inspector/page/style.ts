/** The page's stylesheet (a module, so tsc ships it with the rest: no asset copying). */
export const STYLE = `
:root {
  --bg: #f4f5f7; --panel: #fff; --ink: #1f2328; --muted: #6a737d; --line: #dfe3e8;
  --accent: #1c7ed6; --ok: #2f9e44; --warn: #e8590c; --bad: #c92a2a; --sup: #5f3dc4;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
button, select, input, textarea { font: inherit; }
button { border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 3px 10px; cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
button:disabled { opacity: .45; cursor: default; }
button.on, button.on:hover:not(:disabled) { background: var(--accent); color: #fff; border-color: var(--accent); }
header.top { display: flex; align-items: center; gap: 14px; padding: 8px 16px; background: #20232a; color: #e6e6e6; }
header.top h1 { font-size: 16px; margin: 0; font-weight: 650; letter-spacing: .2px; }
header.top h1 span { color: #61dafb; font-weight: 500; }
header.top .source { color: #aab; }
header.top .spacer { flex: 1; }
header.top select, header.top input { background: #2c313a; color: #eee; border: 1px solid #444; border-radius: 5px; padding: 2px 6px; }
.conn { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #444; }
.conn[data-state=live] { background: #1b5e20; color: #b9f6ca; }
.conn[data-state=down] { background: #7f1d1d; color: #fecaca; }
.layout { display: grid; grid-template-columns: minmax(560px, 44%) minmax(0, 1fr); grid-template-rows: minmax(420px, 1fr) 330px; gap: 10px; padding: 10px; height: calc(100vh - 40px); }
.left { display: flex; flex-direction: column; gap: 10px; min-height: 0; }
.right { min-height: 0; min-width: 0; display: flex; }
.bottom { grid-column: 1 / span 2; display: flex; flex-direction: column; min-height: 0; min-width: 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.panel h3 { margin: 0 0 6px; font-size: 11px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); }
.tree-panel { flex: 1; min-height: 0; display: flex; flex-direction: column; }
.scroll { overflow: auto; flex: 1; }
.nodes { display: flex; flex-wrap: wrap; gap: 8px; }
.node-card { display: flex; align-items: center; gap: 8px; border: 1px solid var(--line); border-left: 4px solid hsl(var(--node-hue) 60% 50%); border-radius: 6px; padding: 4px 10px; }
.node-card .dot { width: 9px; height: 9px; border-radius: 50%; background: var(--ok); }
.node-card.down .dot { background: var(--bad); }
.node-card.down { background: #fff5f5; }
.node-card .status { font-weight: 600; color: var(--ok); }
.node-card.down .status { color: var(--bad); }
.node-card .hb, .node-card .count { color: var(--muted); font-size: 12px; }
.alerts { display: flex; flex-direction: column; gap: 4px; max-height: 110px; overflow: auto; }
.alert { padding: 3px 8px; border-radius: 5px; font-size: 12px; background: #f8f9fa; }
.alert.ok { color: var(--ok); }
.alert.critical { background: #fff5f5; }
.alert.warning { background: #fff9db; }
.alert .since { color: var(--muted); }
.sev { font-size: 10px; text-transform: uppercase; font-weight: 700; padding: 0 5px; border-radius: 4px; color: #fff; background: var(--muted); }
.sev.critical { background: var(--bad); } .sev.warning { background: var(--warn); } .sev.info { background: var(--accent); }
table.tree { width: 100%; border-collapse: collapse; font-size: 12.5px; }
table.tree th { text-align: left; font-weight: 600; color: var(--muted); font-size: 11px; padding: 2px 6px; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #fff; }
table.tree td { padding: 3px 6px; border-bottom: 1px solid #f0f1f3; white-space: nowrap; }
table.tree tr.actor { cursor: pointer; }
table.tree tr.actor:hover { background: #f1f7ff; }
table.tree tr.selected { background: #e7f1ff; box-shadow: inset 3px 0 0 var(--accent); }
table.tree .indent { display: inline-block; }
table.tree .kind { color: var(--accent); margin-right: 6px; font-size: 10px; }
table.tree tr.supervisor .kind { color: var(--sup); }
table.tree tr.supervisor .label { font-weight: 600; }
table.tree .node { font-family: var(--mono); font-size: 11.5px; color: hsl(var(--node-hue) 55% 35%); white-space: nowrap; }
table.tree .node .copies, table.tree .node .standbys { margin-left: 5px; font-size: 10.5px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; }
table.tree .node .copies:empty, table.tree .node .standbys:empty { display: none; }
table.tree .state { font-family: var(--mono); font-size: 11.5px; max-width: 120px; overflow: hidden; text-overflow: ellipsis; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.gauge { margin-left: 6px; font-size: 10.5px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; }
.gauge:empty { display: none; }
.gauge.warm { color: var(--warn); border-color: #ffd8a8; }
.gauge.hot { color: #fff; background: var(--bad); border-color: var(--bad); }
td.deep { color: var(--warn); font-weight: 700; }
.badge { display: inline-block; font-size: 11px; padding: 0 7px; border-radius: 9px; font-weight: 600; }
.badge.running { background: #d3f9d8; color: #2b8a3e; }
.badge.restarting { background: #fff3bf; color: #e67700; }
.badge.down { background: #ffe3e3; color: #c92a2a; }
.actor-panel { flex: 1; overflow: auto; min-width: 0; }
.actor-panel > .empty { color: var(--muted); padding: 40px; text-align: center; }
.actor-title { margin: 0 0 6px; font-size: 17px; font-family: var(--mono); }
.meta { display: flex; flex-wrap: wrap; gap: 6px 14px; margin-bottom: 8px; }
.kv .k { color: var(--muted); margin-right: 5px; font-size: 11px; text-transform: uppercase; letter-spacing: .4px; }
.kv .v { font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 6px 8px; background: #f8f9fa; border-radius: 6px; }
.actions label { display: flex; align-items: center; gap: 4px; color: var(--muted); }
.actions label.payload { flex: 1; min-width: 160px; }
.actions textarea { flex: 1; font-family: var(--mono); font-size: 12px; resize: vertical; min-height: 26px; border: 1px solid var(--line); border-radius: 5px; padding: 3px 6px; }
.actions select { border: 1px solid var(--line); border-radius: 5px; padding: 2px 4px; font-family: var(--mono); font-size: 12px; }
.actions .sep { width: 1px; height: 20px; background: var(--line); }
#send-event { background: var(--accent); color: #fff; border-color: var(--accent); }
#stop-actor:hover:not(:disabled) { color: var(--bad); border-color: var(--bad); }
.action-result { min-height: 18px; font-size: 12px; margin: 4px 2px; }
.action-result.error { color: var(--bad); }
.action-result.ok { color: var(--ok); }
.history-bar { display: flex; gap: 6px; align-items: center; margin: 4px 0 6px; }
.history-bar .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .4px; margin-right: 4px; }
.step-label { min-width: 90px; text-align: center; font-variant-numeric: tabular-nums; }
.chart-wrap { overflow: auto; border: 1px solid var(--line); border-radius: 6px; padding: 10px; background: #fcfcfd; }
svg.statechart { display: block; max-width: 100%; height: auto; }
svg.statechart .box { fill: #fff; stroke: #adb5bd; stroke-width: 1.2; }
svg.statechart .compound > .box, svg.statechart .parallel > .box { fill: #f8f9fa; }
svg.statechart .parallel > .box { stroke-dasharray: 5 4; }
svg.statechart .inner { fill: none; stroke: #adb5bd; }
svg.statechart .active > .box { stroke: var(--accent); stroke-width: 2; fill: #f1f7ff; }
svg.statechart .current > .box { fill: #d0ebff; stroke: #1864ab; stroke-width: 2.5; }
svg.statechart.past .active > .box { stroke: #e67700; fill: #fff9db; }
svg.statechart.past .current > .box { fill: #ffec99; stroke: #e67700; }
svg.statechart .name { font-weight: 700; font-size: 12.5px; fill: #343a40; }
svg.statechart .transition, svg.statechart .note { font-family: var(--mono); font-size: 11px; fill: #495057; }
svg.statechart .note { fill: #868e96; font-style: italic; }
svg.statechart .enabled { fill: #1864ab; font-weight: 700; }
svg.statechart .initial { fill: #343a40; }
svg.statechart .edge .route { fill: none; stroke: #868e96; stroke-width: 1.3; }
svg.statechart .edge.initial-edge .route { stroke: #343a40; }
svg.statechart .edge-label { font-family: var(--mono); font-size: 11px; fill: #495057; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg.statechart .edge.enabled .route { stroke: #1864ab; stroke-width: 2; }
svg.statechart .edge.enabled .edge-label { fill: #1864ab; font-weight: 700; }
.step-info { margin-top: 8px; }
.step-head { font-size: 12px; color: var(--muted); }
.step-head.past { color: #e67700; }
.step-head b { color: var(--ink); }
.step-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 8px; margin-top: 4px; }
.step-grid .k { font-size: 11px; color: var(--muted); text-transform: uppercase; }
.step-grid pre { margin: 2px 0 0; background: #f8f9fa; border-radius: 5px; padding: 6px 8px; font-size: 11.5px; max-height: 140px; overflow: auto; }
.tabs { display: flex; gap: 4px; border-bottom: 1px solid var(--line); padding-bottom: 6px; margin-bottom: 6px; }
.tabs button { border-radius: 6px 6px 0 0; }
.tabs .count { color: inherit; opacity: .75; font-size: 11px; }
.tab-body { flex: 1; overflow: auto; min-height: 0; min-width: 0; display: flex; flex-direction: column; }
.toolbar { display: flex; gap: 12px; align-items: center; margin-bottom: 4px; }
.toolbar input[type=search] { width: 320px; border: 1px solid var(--line); border-radius: 5px; padding: 2px 8px; }
.sequence-info { color: var(--muted); }
.sequence { display: flex; flex-direction: column; flex: 1; min-height: 0; min-width: 0; }
.sequence-canvas { flex: 1; overflow: auto; min-height: 0; min-width: 0; position: relative; }
.sequence-head { position: sticky; top: 0; z-index: 1; background: var(--panel); width: max-content; }
.sequence-canvas svg { display: block; }
svg.seq .lifeline { stroke: #ced4da; stroke-dasharray: 3 3; }
svg.seq .lane-head { fill: #f1f3f5; stroke: #ced4da; }
svg.seq .lane-name { font-family: var(--mono); font-size: 11px; fill: #343a40; }
svg.seq .msg { cursor: pointer; }
svg.seq .msg .arrow { stroke: var(--c); stroke-width: 1.6; fill: none; }
svg.seq .msg .label { font-family: var(--mono); font-size: 10.5px; fill: var(--c); }
svg.seq .msg .time { font-family: var(--mono); font-size: 10px; fill: #868e96; }
svg.seq .msg.dead .arrow { stroke-dasharray: 4 3; }
svg.seq .msg.dim { opacity: .18; }
svg.seq .msg.hl .arrow { stroke-width: 2.6; }
svg.seq .msg:hover .label { font-weight: 700; }
.list table.grid, table.grid { width: 100%; border-collapse: collapse; font-size: 12px; }
table.grid th { text-align: left; color: var(--muted); font-weight: 600; font-size: 11px; border-bottom: 1px solid var(--line); padding: 2px 6px; position: sticky; top: 0; background: #fff; }
table.grid td { padding: 2px 6px; border-bottom: 1px solid #f1f3f5; vertical-align: top; }
td.time, td.mono { font-family: var(--mono); font-size: 11px; white-space: nowrap; }
td.detail { color: #495057; }
.reason { font-family: var(--mono); font-size: 11px; padding: 0 5px; border-radius: 4px; background: #f3f0ff; color: #5f3dc4; }
.reason.crashed { background: #ffe3e3; color: #c92a2a; }
.reason.unhandled { background: #fff3bf; color: #e67700; }
.etype { font-family: var(--mono); font-size: 11px; }
.etype.crashed, .etype.escalated, .etype.node_down { color: var(--bad); font-weight: 700; }
.etype.restarted, .etype.started, .etype.node_up { color: var(--ok); }
tr.incident.critical td.title { color: var(--bad); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.chart .chart-title { font-size: 12px; font-weight: 600; fill: #343a40; }
.chart .axis, .chart .legend { font-size: 10px; fill: #868e96; }
.chart .grid { stroke: #f1f3f5; }
.empty { color: var(--muted); padding: 12px; }
`;
