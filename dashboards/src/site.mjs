// Site › racks: where on the floor to walk. Each rack's health is the worst class of firing alert
// among its miners (down, hot, degraded), from the rack: recording rules (rules/cgminer.rules.yml),
// which read ALERTS: the map shows what the alerts say, with their for: windows, at a cost of a few
// series per rack. A floor map per site (rows × racks), the racks to walk to, and their history;
// every rack opens the rack dashboard (its miners by slot).
import {
  bargauge,
  dashboard,
  datasourceVar,
  fixedColor,
  link,
  mapping,
  override,
  q,
  qi,
  queryVar,
  row,
  stat,
  statusHistory,
  table,
  textboxVar,
  thresholds,
  timeseries,
} from './lib.mjs';

const R = 'site=~"$site", row=~"$row"';

// health is 3 (a miner down), 2 (hot), 1 (degraded) or 0 (fine) per rack; sel narrows the racks.
export const health = (sel) =>
  `max by (site, row, rack) (` +
  `(rack:cgminer_miners_down:count{${sel}} > 0) * 0 + 3` +
  ` or (rack:cgminer_miners_hot:count{${sel}} > 0) * 0 + 2` +
  ` or (rack:cgminer_miners_degraded:count{${sel}} > 0) * 0 + 1` +
  ` or rack:cgminer_miners:count{${sel}} * 0)`;

export const healthMapping = mapping([
  [0, 'ok', 'green'],
  [1, 'degraded', 'yellow'],
  [2, 'hot', 'orange'],
  [3, 'down', 'red'],
]);
export const healthSteps = thresholds('green', 1, 'yellow', 2, 'orange', 3, 'red');

const rackLink = (site, row, rack) => [
  { title: 'Open this rack', url: `/d/cgminer-rack/rack?var-site=${site}&var-row=${row}&var-rack=${rack}&\${__url_time_range}` },
];

// The racks with a problem (health above 0), each query keeping only those.
const problem = `and on (site, row, rack) (${health(R)} > 0)`;

export default dashboard({
  uid: 'cgminer-site',
  title: 'Site › racks',
  description: 'Where to walk: racks by health (a miner down, hot, degraded) on a floor map per site, the racks to visit and their history; each rack opens its miners by slot.',
  tags: ['cgminer', 'site'],
  time: 'now-12h',
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(rack:cgminer_miners:count, site)'),
    queryVar('row', 'Row', 'label_values(rack:cgminer_miners:count{site=~"$site"}, row)'),
    textboxVar('receiver_url', 'Repair board', 'http://localhost:9155', 'Base URL of repair_receiver (its board and task pages).'),
  ],
  links: [link('Repair board', '${receiver_url}/', 'Open repair tasks (repair_receiver)')],
  panels: [
    row('Where to walk'),
    stat('Racks', 'Racks with at least one miner down, hot or degraded (a firing alert of that class), of all racks on the selected sites and rows.', [
      q(`count(rack:cgminer_miners_down:count{${R}} > 0) or vector(0)`, 'down'),
      q(`count(rack:cgminer_miners_hot:count{${R}} > 0) or vector(0)`, 'hot'),
      q(`count(rack:cgminer_miners_degraded:count{${R}} > 0) or vector(0)`, 'degraded'),
      q(`count(rack:cgminer_miners:count{${R}})`, 'racks'),
    ], {
      textMode: 'value_and_name',
      w: 12,
      h: 4,
      overrides: [fixedColor('down', 'red'), fixedColor('hot', 'orange'), fixedColor('degraded', 'yellow'), fixedColor('racks', 'text')],
    }),
    stat('Miners', 'Miners down, hot or degraded (each counted once per class), of the miners Prometheus probes there.', [
      q(`sum(rack:cgminer_miners_down:count{${R}})`, 'down'),
      q(`sum(rack:cgminer_miners_hot:count{${R}})`, 'hot'),
      q(`sum(rack:cgminer_miners_degraded:count{${R}})`, 'degraded'),
      q(`sum(rack:cgminer_miners:count{${R}})`, 'miners'),
    ], {
      textMode: 'value_and_name',
      w: 12,
      h: 4,
      overrides: [fixedColor('down', 'red'), fixedColor('hot', 'orange'), fixedColor('degraded', 'yellow'), fixedColor('miners', 'text')],
    }),
    table('Floor map: $site', 'One cell per rack, a line per row: red a miner down, orange hot, yellow degraded, green fine (the worst class wins). Click a rack to see its miners by slot. Racks without a row label are on the empty line.', [
      qi(health('site=~"$site", row=~"$row"')),
    ], {
      matrix: { rows: 'row', columns: 'rack' },
      mappings: healthMapping,
      thresholds: healthSteps,
      color: 'thresholds',
      cell: { type: 'color-background', mode: 'basic' },
      filterable: false,
      dataLinks: rackLink('${site}', '${__data.fields[0]}', '${__field.name}'),
      overrides: [override('byName', 'row\\rack', { links: [], 'custom.cellOptions': { type: 'auto' }, displayName: 'row' })],
      repeat: 'site',
      w: 24,
      h: 8,
    }),
    table('Racks to walk to', 'Racks with a miner down, hot or degraded, worst first: how many miners of each class. Click a row to see the rack\'s miners.', [
      qi(`${health(R)} > 0`),
      qi(`rack:cgminer_miners_down:count{${R}} ${problem}`),
      qi(`rack:cgminer_miners_hot:count{${R}} ${problem}`),
      qi(`rack:cgminer_miners_degraded:count{${R}} ${problem}`),
      qi(`rack:cgminer_miners:count{${R}} ${problem}`),
    ], {
      rename: { 'Value #A': 'health', 'Value #B': 'down', 'Value #C': 'hot', 'Value #D': 'degraded', 'Value #E': 'miners' },
      order: { site: 0, row: 1, rack: 2, 'Value #A': 3, 'Value #B': 4, 'Value #C': 5, 'Value #D': 6, 'Value #E': 7 },
      sortBy: 'health',
      dataLinks: rackLink('${__data.fields.site}', '${__data.fields.row}', '${__data.fields.rack}'),
      overrides: [
        override('byName', 'health', {
          mappings: healthMapping,
          thresholds: healthSteps,
          color: { mode: 'thresholds' },
          'custom.cellOptions': { type: 'color-background', mode: 'basic' },
        }),
      ],
      w: 12,
      h: 10,
    }),
    statusHistory('Rack health over time', 'Racks that had a miner down, hot or degraded in the time range (empty: fine).', [
      q(`${health(R)} > 0`, '{{site}} {{row}} {{rack}}'),
    ], { mappings: healthMapping, thresholds: healthSteps, color: 'thresholds', w: 12, h: 10 }),

    row('By row'),
    bargauge('Miners down by row', 'Miners down (MinerOffline or MinerScrapeFailing firing) per site and row.', [
      q(`sort_desc(sum by (site, row) (rack:cgminer_miners_down:count{${R}}))`, '{{site}} {{row}}'),
    ], { thresholds: thresholds('green', 1, 'red'), w: 8, h: 8 }),
    bargauge('Miners hot by row', 'Miners with a temperature alert firing, per site and row.', [
      q(`sort_desc(sum by (site, row) (rack:cgminer_miners_hot:count{${R}}))`, '{{site}} {{row}}'),
    ], { thresholds: thresholds('green', 1, 'orange'), w: 8, h: 8 }),
    bargauge('Miners degraded by row', 'Miners with a hashrate, hashboard or fan alert firing, per site and row.', [
      q(`sort_desc(sum by (site, row) (rack:cgminer_miners_degraded:count{${R}}))`, '{{site}} {{row}}'),
    ], { thresholds: thresholds('green', 1, 'yellow'), w: 8, h: 8 }),
    timeseries('Miners with a problem', 'Down, hot and degraded miners on the selected sites and rows over time.', [
      q(`sum(rack:cgminer_miners_down:count{${R}})`, 'down'),
      q(`sum(rack:cgminer_miners_hot:count{${R}})`, 'hot'),
      q(`sum(rack:cgminer_miners_degraded:count{${R}})`, 'degraded'),
    ], { overrides: [fixedColor('down', 'red'), fixedColor('hot', 'orange'), fixedColor('degraded', 'yellow')], w: 24, h: 8 }),
  ],
});
