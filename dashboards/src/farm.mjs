// The farm: fleet and per-site health at a glance. Site totals come from the site: recording rules
// (rules/), so the dashboard stays cheap at 100,000 miners; lists of machines are topk/bottomk of
// per-miner series, filtered by model through cgminer_info.
import {
  bargauge,
  dashboard,
  datasourceVar,
  link,
  nominalDashed,
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

const S = 'site=~"$site"';
const SI = 'site=~"$site", instance=~"$instance"';
// Per-miner series keep only the miners of the chosen models.
const M = 'and on(instance) cgminer_info{model=~"$model"}';

const minerLink = [
  { title: 'Open this miner', url: '/d/cgminer-miner/miner?var-instance=${__data.fields.instance}&${__url_time_range}' },
];

const pct = thresholds('red', 0.8, 'orange', 0.95, 'green');
const tempSteps = thresholds('green', 80, 'orange', 95, 'red');

export default dashboard({
  uid: 'cgminer-farm',
  title: 'Mining farm',
  description: 'Fleet and per-site hashrate against nominal, miners up/down/sleeping, alerts, boards, temperatures, fans, pools, power and efficiency.',
  tags: ['cgminer', 'farm'],
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(cgminer_up, site)'),
    queryVar('model', 'Model', 'label_values(cgminer_info{site=~"$site"}, model)'),
    // Miners whose model is unknown (not answering: no cgminer_info) stay listed.
    queryVar('instance', 'Miner', 'query_result(cgminer_up{site=~"$site"} unless on(instance) cgminer_info{model!~"$model"})', {
      regex: '/instance="([^"]+)"/',
    }),
    textboxVar('receiver_url', 'Repair board', 'http://localhost:9155', 'Base URL of repair_receiver (its board and task pages).'),
  ],
  links: [link('Repair board', '${receiver_url}/', 'Open repair tasks (repair_receiver)')],
  panels: [
    row('Fleet'),
    stat('Hashrate', 'Sum over the selected sites of the miners that answer.', [
      q(`sum(site:cgminer_hashrate_hashes_per_second:sum{${S}})`, 'hashrate'),
    ], { unit: 'Hs', graph: true, w: 4 }),
    stat('Nominal hashrate', 'What the answering miners should make (miner or model table).', [
      q(`sum(site:cgminer_hashrate_nominal_hashes_per_second:sum{${S}})`, 'nominal'),
    ], { unit: 'Hs', w: 4 }),
    stat('Of nominal', 'Hashrate divided by nominal hashrate.', [
      q(`sum(site:cgminer_hashrate_hashes_per_second:sum{${S}}) / sum(site:cgminer_hashrate_nominal_hashes_per_second:sum{${S}})`, 'of nominal'),
    ], { unit: 'percentunit', thresholds: pct, decimals: 1, w: 4 }),
    stat('Miners', 'Targets Prometheus probes, those answering, not answering, and deliberately idle.', [
      q(`sum(site:cgminer_miners:count{${S}})`, 'total'),
      q(`sum(site:cgminer_miners_up:sum{${S}})`, 'up'),
      q(`sum(site:cgminer_miners_down:sum{${S}})`, 'down'),
      q(`sum(site:cgminer_miners_sleeping:sum{${S}})`, 'sleeping'),
    ], {
      w: 8,
      textMode: 'value_and_name',
      overrides: [
        { matcher: { id: 'byName', options: 'down' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }] },
        { matcher: { id: 'byName', options: 'sleeping' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'blue' } }] },
        { matcher: { id: 'byName', options: 'up' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'green' } }] },
      ],
    }),
    stat('Open alerts', 'Firing alerts on the selected sites (the Watchdog heartbeat excluded).', [
      q(`count(ALERTS{alertstate="firing", category!="meta", ${S}}) or vector(0)`, 'open alerts'),
    ], { thresholds: thresholds('green', 1, 'orange', 50, 'red'), w: 4, links: [link('Repair board', '${receiver_url}/')] }),
    stat('Power', 'Power of the miners that report it.', [
      q(`sum(site:cgminer_power_watts:sum{${S}})`, 'power'),
    ], { unit: 'watt', graph: true, w: 4 }),
    stat('Boards missing', 'Expected minus detected hashboards.', [
      q(`sum(site:cgminer_boards_missing:sum{${S}})`, 'boards missing'),
    ], { thresholds: thresholds('green', 1, 'red'), w: 4 }),
    stat('Accepted shares', 'Accepted shares per second.', [
      q(`sum(site:cgminer_shares_accepted:rate5m{${S}})`, 'shares/s'),
    ], { unit: 'short', graph: true, decimals: 2, w: 4 }),
    bargauge('Efficiency by site', 'Joules per terahash, over the miners reporting both power and hashrate. Lower is better.', [
      q(`site:cgminer_efficiency_joules_per_terahash:ratio{${S}}`, '{{site}}'),
    ], { unit: 'suffix: J/TH', decimals: 1, thresholds: thresholds('green', 35, 'orange', 60, 'red'), w: 8, h: 4 }),

    row('Hashrate'),
    timeseries('Hashrate against nominal by site', 'Solid: what the answering miners make; dashed: their nominal.', [
      q(`site:cgminer_hashrate_hashes_per_second:sum{${S}}`, '{{site}}'),
      q(`site:cgminer_hashrate_nominal_hashes_per_second:sum{${S}}`, '{{site}} nominal'),
    ], { unit: 'Hs', overrides: [nominalDashed], w: 12, h: 9 }),
    timeseries('Of nominal by site', 'Hashrate divided by nominal hashrate, per site.', [
      q(`site:cgminer_hashrate_hashes_per_second:sum{${S}} / site:cgminer_hashrate_nominal_hashes_per_second:sum{${S}}`, '{{site}}'),
    ], { unit: 'percentunit', thresholds: pct, softMin: 0.5, max: 1.1, w: 12, h: 9 }),
    table('Furthest below nominal', 'The 20 answering miners with the lowest share of their nominal hashrate.', [
      qi(`bottomk(20, (cgminer_hashrate_hashes_per_second{${SI}} / (cgminer_hashrate_nominal_hashes_per_second{${SI}} > 0)) ${M})`),
    ], { unit: 'percentunit', thresholds: pct, color: 'thresholds', dataLinks: minerLink, rename: { Value: 'of nominal' }, sortBy: 'of nominal', sortDesc: false, w: 24, h: 8 }),

    row('Miners'),
    timeseries('Miners by state', 'Answering, not answering and sleeping miners on the selected sites.', [
      q(`sum(site:cgminer_miners_up:sum{${S}})`, 'up'),
      q(`sum(site:cgminer_miners_down:sum{${S}})`, 'down'),
      q(`sum(site:cgminer_miners_sleeping:sum{${S}})`, 'sleeping'),
    ], { stack: true, w: 12, h: 8 }),
    bargauge('Miners down by site', 'Not answering the probe now.', [
      q(`site:cgminer_miners_down:sum{${S}}`, '{{site}}'),
    ], { thresholds: thresholds('green', 1, 'orange', 10, 'red'), w: 12, h: 8 }),
    table('Not answering, and why', 'Probe failures with their reason, 100 at most (model is unknown while a miner does not answer).', [
      qi(`topk(100, cgminer_probe_error_info{${SI}})`),
    ], { dataLinks: minerLink, hide: { Value: true }, w: 24, h: 8 }),

    row('Alerts'),
    bargauge('Open alerts by category', 'Firing alerts on the selected sites, by category.', [
      q(`count by (category) (ALERTS{alertstate="firing", category!="meta", ${S}})`, '{{category}}'),
    ], { thresholds: thresholds('green', 1, 'orange', 50, 'red'), w: 8, h: 9 }),
    timeseries('Alerts by category', 'Firing alerts over time.', [
      q(`count by (category) (ALERTS{alertstate="firing", category!="meta", ${S}})`, '{{category}}'),
    ], { stack: true, w: 16, h: 9 }),
    table('Firing alerts', 'Firing alerts on the selected sites and miners, 200 at most (the alert counts above are complete).', [
      qi(`topk(200, ALERTS{alertstate="firing", category!="meta", ${SI}})`),
    ], { dataLinks: minerLink, hide: { Value: true, alertstate: true }, w: 24, h: 9 }),

    row('Temperatures and fans', true),
    timeseries('Hottest chips', 'The 10 miners with the hottest chip sensor.', [
      q(`topk(10, max by (instance, site) (cgminer_board_temperature_celsius{sensor="chip", ${SI}}) ${M})`, '{{instance}}'),
    ], { unit: 'celsius', thresholds: tempSteps, w: 12, h: 9 }),
    bargauge('Hottest chip by site', 'Highest chip temperature on each site now.', [
      q(`max by (site) (cgminer_board_temperature_celsius{sensor="chip", ${S}} ${M})`, '{{site}}'),
    ], { unit: 'celsius', thresholds: tempSteps, min: 20, max: 110, w: 12, h: 9 }),
    bargauge('Fans stopped by site', 'Fans reporting 0 rpm.', [
      q(`count by (site) (cgminer_fan_speed_rpm{${S}} == 0 ${M})`, '{{site}}'),
    ], { thresholds: thresholds('green', 1, 'red'), noValue: '0', w: 8, h: 8 }),
    table('Slowest fans', 'The 15 slowest fans among the selected miners.', [
      qi(`bottomk(15, cgminer_fan_speed_rpm{${SI}} ${M})`),
    ], { unit: 'rpm', thresholds: thresholds('red', 1000, 'orange', 2000, 'green'), color: 'thresholds', dataLinks: minerLink, rename: { Value: 'rpm' }, sortBy: 'rpm', sortDesc: false, w: 16, h: 8 }),

    row('Hashboards', true),
    bargauge('Boards missing by site', 'Expected minus detected hashboards.', [
      q(`site:cgminer_boards_missing:sum{${S}}`, '{{site}}'),
    ], { thresholds: thresholds('green', 1, 'red'), w: 8, h: 8 }),
    table('Miners with boards missing', 'Detected fewer hashboards than the model has; the 50 missing most.', [
      qi(`topk(50, (cgminer_boards_expected{${SI}} - cgminer_boards{${SI}}) > 0 ${M})`),
    ], { thresholds: thresholds('green', 1, 'red'), color: 'thresholds', dataLinks: minerLink, rename: { Value: 'missing' }, sortBy: 'missing', w: 16, h: 8 }),
    table('Failed boards and chips', 'Boards hashing nothing, and the boards with most chips reported bad or lost (50 of each at most).', [
      qi(`topk(50, cgminer_board_hashrate_hashes_per_second{${SI}} == 0 ${M})`, '', { refId: 'zero' }),
      qi(`topk(50, (cgminer_board_chips_failed{${SI}} > 0) ${M})`),
      qi(`topk(50, (cgminer_board_chips_expected{${SI}} - cgminer_board_chips{${SI}} > 0) ${M})`),
    ], { dataLinks: minerLink, rename: { 'Value #zero': 'hashrate', 'Value #B': 'chips failed', 'Value #C': 'chips lost' }, w: 24, h: 8 }),

    row('Pools and shares', true),
    timeseries('Accepted shares by site', 'Accepted shares per second.', [
      q(`site:cgminer_shares_accepted:rate5m{${S}}`, '{{site}}'),
    ], { unit: 'short', w: 8, h: 8 }),
    timeseries('Rejected share ratio by site', 'Rejected over accepted plus rejected shares.', [
      q(`sum by (site) (rate(cgminer_shares_rejected_total{${S}}[$__rate_interval])) / (sum by (site) (rate(cgminer_shares_accepted_total{${S}}[$__rate_interval])) + sum by (site) (rate(cgminer_shares_rejected_total{${S}}[$__rate_interval])))`, '{{site}}'),
    ], { unit: 'percentunit', thresholds: thresholds('green', 0.02, 'orange', 0.05, 'red'), w: 8, h: 8 }),
    stat('Miners with no pool alive', 'Answering miners none of whose operator pools is alive.', [
      q(`count(max by (instance) (cgminer_pool_up{${S}} unless on(instance, pool) cgminer_pool_devfee == 1) == 0) or vector(0)`, 'no pool'),
    ], { thresholds: thresholds('green', 1, 'red'), w: 8, h: 8 }),
    table('Pools in use', 'Miners mining on each pool and worker now; "expected" 0 means not the configured pool.', [
      qi(`count by (url, user) (cgminer_pool_active{${SI}} == 1 ${M})`),
      qi(`count by (url, user) (cgminer_pool_active{${SI}} == 1 and on(instance, pool) cgminer_pool_expected == 0 ${M})`),
    ], { rename: { 'Value #A': 'miners', 'Value #B': 'unexpected' }, sortBy: 'miners', w: 24, h: 8 }),

    row('Power and efficiency'),
    timeseries('Power by site', 'Power draw of the miners that report it.', [
      q(`site:cgminer_power_watts:sum{${S}}`, '{{site}}'),
    ], { unit: 'watt', w: 12, h: 8 }),
    timeseries('Efficiency by site', 'Joules per terahash (lower is better).', [
      q(`site:cgminer_efficiency_joules_per_terahash:ratio{${S}}`, '{{site}}'),
    ], { unit: 'suffix: J/TH', w: 12, h: 8 }),
    timeseries('Fleet', 'The whole fleet (all sites), from the fleet: rules.', [
      q('fleet:cgminer_hashrate_hashes_per_second:sum', 'hashrate'),
      q('fleet:cgminer_hashrate_nominal_hashes_per_second:sum', 'nominal'),
    ], { unit: 'Hs', overrides: [nominalDashed], w: 12, h: 8 }),
    stat('Fleet efficiency and power', 'All sites.', [
      q('fleet:cgminer_efficiency_joules_per_terahash:ratio', 'J/TH'),
      q('fleet:cgminer_power_watts:sum', 'power'),
      q('fleet:cgminer_boards_missing:sum', 'boards missing'),
      q('fleet:cgminer_shares_accepted:rate5m', 'shares/s'),
    ], {
      textMode: 'value_and_name',
      w: 12,
      h: 8,
      overrides: [
        { matcher: { id: 'byName', options: 'J/TH' }, properties: [{ id: 'unit', value: 'suffix: J/TH' }, { id: 'decimals', value: 1 }] },
        { matcher: { id: 'byName', options: 'power' }, properties: [{ id: 'unit', value: 'watt' }] },
      ],
    }),
    stat('Fleet miners', 'All sites.', [
      q('fleet:cgminer_miners:count', 'total'),
      q('fleet:cgminer_miners_up:sum', 'up'),
      q('fleet:cgminer_miners_down:sum', 'down'),
      q('fleet:cgminer_miners_sleeping:sum', 'sleeping'),
    ], { textMode: 'value_and_name', w: 24, h: 4 }),
  ],
});
