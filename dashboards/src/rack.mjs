// One rack: its miners by slot (answering, model, hashrate against nominal, hottest chip, power,
// firing alerts), the rack's alerts and its history. Opened from the floor map (site.json); every
// miner opens the miner dashboard. Per-miner series of one rack are a few dozen: cheap.
import {
  dashboard,
  datasourceVar,
  fixedColor,
  link,
  mapping,
  nominalDashed,
  override,
  q,
  qi,
  queryVar,
  row,
  stat,
  table,
  textboxVar,
  thresholds,
  timeseries,
} from './lib.mjs';

const K = 'site="$site", row=~"$row", rack="$rack"';

const minerLink = [
  { title: 'Open this miner', url: '/d/cgminer-miner/miner?var-instance=${__data.fields.instance}&${__url_time_range}' },
];
const tempSteps = thresholds('green', 80, 'orange', 90, 'red');

export default dashboard({
  uid: 'cgminer-rack',
  title: 'Rack',
  description: 'One rack: its miners by slot with status, model, hashrate against nominal, hottest chip, power and firing alerts; the rack\'s alerts and history.',
  tags: ['cgminer', 'rack'],
  time: 'now-6h',
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(rack:cgminer_miners:count, site)', { multi: false }),
    queryVar('row', 'Row', 'label_values(rack:cgminer_miners:count{site="$site"}, row)'),
    queryVar('rack', 'Rack', 'label_values(rack:cgminer_miners:count{site="$site", row=~"$row"}, rack)', { multi: false }),
    textboxVar('receiver_url', 'Repair board', 'http://localhost:9155', 'Base URL of repair_receiver (its board and task pages).'),
  ],
  links: [link('Repair tasks on this site', '${receiver_url}/?site=${site}', 'repair_receiver board filtered to the site')],
  panels: [
    row('$site › $rack'),
    stat('Miners', 'Miners probed in the rack, and those down, hot or degraded (firing alerts; see the floor map).', [
      q(`sum(rack:cgminer_miners:count{${K}})`, 'miners'),
      q(`sum(rack:cgminer_miners_down:count{${K}})`, 'down'),
      q(`sum(rack:cgminer_miners_hot:count{${K}})`, 'hot'),
      q(`sum(rack:cgminer_miners_degraded:count{${K}})`, 'degraded'),
    ], {
      textMode: 'value_and_name',
      w: 12,
      h: 4,
      overrides: [fixedColor('miners', 'text'), fixedColor('down', 'red'), fixedColor('hot', 'orange'), fixedColor('degraded', 'yellow')],
    }),
    stat('Hashrate', 'Of the rack\'s answering miners, and their nominal.', [
      q(`sum(cgminer_hashrate_hashes_per_second{${K}})`, 'hashrate'),
      q(`sum(cgminer_hashrate_nominal_hashes_per_second{${K}})`, 'nominal'),
    ], { unit: 'Hs', textMode: 'value_and_name', w: 6, h: 4 }),
    stat('Power', 'Of the rack\'s miners that report it.', [q(`sum(cgminer_power_watts{${K}})`, 'power')], { unit: 'watt', graph: true, w: 6, h: 4 }),
    table('Miners by slot', 'Every miner of the rack: whether it answers, its model, hashrate against nominal, hottest chip, power and how many alerts fire on it. Click a row to open the miner.', [
      qi(`max by (instance, slot, name) (up{job="cgminer", ${K}})`),
      qi(`max by (instance) (cgminer_up{${K}})`),
      qi(`max by (instance, model) (cgminer_info{${K}})`),
      qi(`max by (instance) (cgminer_hashrate_hashes_per_second{${K}} / (cgminer_hashrate_nominal_hashes_per_second{${K}} > 0))`),
      qi(`max by (instance) (cgminer_board_temperature_celsius{sensor=~"chip|chip_max", ${K}})`),
      qi(`max by (instance) (cgminer_power_watts{${K}})`),
      qi(`count by (instance) (ALERTS{alertstate="firing", ${K}})`),
    ], {
      join: 'instance',
      hide: { 'Value #A': true, 'Value #C': true },
      rename: { 'Value #B': 'answers', 'Value #D': 'of nominal', 'Value #E': 'hottest chip', 'Value #F': 'power', 'Value #G': 'alerts' },
      order: { slot: 0, instance: 1, name: 2, model: 3, 'Value #B': 4, 'Value #D': 5, 'Value #E': 6, 'Value #F': 7, 'Value #G': 8 },
      sortBy: 'slot',
      sortDesc: false,
      dataLinks: minerLink,
      overrides: [
        override('byName', 'answers', {
          mappings: mapping([[1, 'UP', 'green'], [0, 'DOWN', 'red']]),
          color: { mode: 'thresholds' },
          thresholds: thresholds('red', 1, 'green'),
          'custom.cellOptions': { type: 'color-background', mode: 'basic' },
        }),
        override('byName', 'of nominal', { unit: 'percentunit', decimals: 1, color: { mode: 'thresholds' }, thresholds: thresholds('red', 0.8, 'orange', 0.95, 'green'), 'custom.cellOptions': { type: 'color-text' } }),
        override('byName', 'hottest chip', { unit: 'celsius', color: { mode: 'thresholds' }, thresholds: tempSteps, 'custom.cellOptions': { type: 'color-text' } }),
        override('byName', 'power', { unit: 'watt' }),
        override('byName', 'alerts', { color: { mode: 'thresholds' }, thresholds: thresholds('green', 1, 'red'), 'custom.cellOptions': { type: 'color-text' }, noValue: '0' }),
      ],
      w: 24,
      h: 12,
    }),
    table('Firing alerts in the rack', 'Every firing alert on a miner of the rack.', [
      qi(`ALERTS{alertstate="firing", ${K}}`),
    ], { dataLinks: minerLink, hide: { Value: true, alertstate: true, site: true, rack: true }, w: 24, h: 7 }),

    row('History'),
    timeseries('Hashrate by miner', 'Each miner of the rack; dashed: the rack\'s nominal.', [
      q(`cgminer_hashrate_hashes_per_second{${K}}`, '{{slot}} {{instance}}'),
      q(`sum(cgminer_hashrate_nominal_hashes_per_second{${K}}) / count(cgminer_hashrate_nominal_hashes_per_second{${K}})`, 'nominal (per miner)'),
    ], { unit: 'Hs', overrides: [nominalDashed], w: 12, h: 9 }),
    timeseries('Hottest chip by miner', 'The hottest chip sensor of each miner.', [
      q(`max by (instance, slot) (cgminer_board_temperature_celsius{sensor=~"chip|chip_max", ${K}})`, '{{slot}} {{instance}}'),
    ], { unit: 'celsius', thresholds: tempSteps, w: 12, h: 9 }),
    timeseries('Rack health', 'Miners down, hot and degraded in the rack.', [
      q(`sum(rack:cgminer_miners_down:count{${K}})`, 'down'),
      q(`sum(rack:cgminer_miners_hot:count{${K}})`, 'hot'),
      q(`sum(rack:cgminer_miners_degraded:count{${K}})`, 'degraded'),
    ], { overrides: [fixedColor('down', 'red'), fixedColor('hot', 'orange'), fixedColor('degraded', 'yellow')], w: 12, h: 8 }),
    timeseries('Power by miner', 'Each miner that reports its power.', [
      q(`cgminer_power_watts{${K}}`, '{{slot}} {{instance}}'),
    ], { unit: 'watt', w: 12, h: 8 }),
  ],
});
