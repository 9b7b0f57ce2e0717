// Energy and economics: power and efficiency (J/TH) per site, model and miner, energy per day, and
// what the farm earns and costs from price_exporter's metrics (dashboards/price.yml): the hashprice
// (currency per TH/s per day), the tariff per site (currency per kWh), each model's purchase price.
// Site figures come from the site: rules, per model from the site_model: and model: rules (model
// is not a target label: those join the miners' series with cgminer_info once a minute).
import {
  bargauge,
  dashboard,
  datasourceVar,
  fixedColor,
  mapping,
  override,
  q,
  qi,
  queryVar,
  row,
  stat,
  table,
  thresholds,
  timeseries,
} from './lib.mjs';

const S = 'site=~"$site"';
const M = 'model=~"$model"';
// The model of each miner, for the one per-miner list joined at query time: … * on (instance, job)
// group_left (model) INFO; topk keeps one series per miner while a firmware upgrade briefly
// leaves two (the old model's goes stale).
const INFO = `topk by (instance, job) (1, cgminer_info{${S}, ${M}})`;
const HASHPRICE = 'scalar(max(price_hashprice_per_terahash_day))';
// The tariff of each site: its own, or the default (the series without a site label).
const TARIFF = `(max by (site) (price_electricity_per_kwh{site!="", ${S}}) or max by (site) (site:cgminer_power_watts:sum{${S}}) * 0 + scalar(max(price_electricity_per_kwh{site=""})))`;

// Per site per day: revenue (hashrate × hashprice) and cost (power × 24 h × tariff).
const revenue = `site:cgminer_hashrate_hashes_per_second:sum{${S}} / 1e12 * ${HASHPRICE}`;
const cost = `site:cgminer_power_watts:sum{${S}} / 1000 * 24 * ${TARIFF}`;

// Per model, per miner of the model, per day, from the site_model: rules (the join with
// cgminer_info is done once a minute there). Cost per (site, model) takes the site's tariff.
const SM = `${S}, ${M}`;
const modelMiners = `sum by (model) (site_model:cgminer_miners:count{${SM}})`;
const perMiner = (expr) => `(${expr}) / ${modelMiners}`;
const modelRevenue = perMiner(`sum by (model) (site_model:cgminer_hashrate_hashes_per_second:sum{${SM}}) / 1e12 * ${HASHPRICE}`);
const modelCost = perMiner(`sum by (model) (site_model:cgminer_power_watts:sum{${SM}} / 1000 * 24 * on (site) group_left () ${TARIFF})`);
const modelProfit = `(${modelRevenue} - ${modelCost})`;
const payback = `max by (model) (price_miner_purchase{${M}}) / ((${modelProfit} > 0) * 30.44)`;

const money = { decimals: 2 };
const minerLink = [
  { title: 'Open this miner', url: '/d/cgminer-miner/miner?var-instance=${__data.fields.instance}&${__url_time_range}' },
];

export default dashboard({
  uid: 'cgminer-energy',
  title: 'Energy and economics',
  description: 'Power and J/TH per site, model and miner; kWh per day; cost per day from the tariff, revenue from the hashprice, profit, and the months each model takes to pay for itself (prices: price_exporter, dashboards/price.yml).',
  tags: ['cgminer', 'energy'],
  time: 'now-7d',
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(cgminer_up, site)'),
    queryVar('model', 'Model', 'label_values(cgminer_info{site=~"$site"}, model)'),
  ],
  panels: [
    row('Economics (currency of price.yml per day)'),
    stat('Revenue per day', 'Hashrate of the answering miners (TH/s) × the hashprice.', [q(`sum(${revenue})`, 'revenue')], { ...money, graph: true, w: 4, h: 5 }),
    stat('Electricity per day', 'Power now × 24 h × each site\'s tariff.', [q(`sum(${cost})`, 'cost')], { ...money, graph: true, w: 4, h: 5 }),
    stat('Profit per day', 'Revenue minus electricity.', [q(`sum(${revenue}) - sum(${cost})`, 'profit')], {
      ...money, graph: true, thresholds: thresholds('red', 0, 'green'), color: 'thresholds', w: 4, h: 5,
    }),
    stat('Hashprice', 'Currency per TH/s per day, and where it comes from: fetched from price.yml\'s URL (within max_age), or its constant.', [
      qi('max by (currency) (price_hashprice_per_terahash_day)', '{{currency}} per TH/s per day', { format: 'time_series' }),
      qi('min(price_value_fetched)', 'fetched', { format: 'time_series' }),
    ], {
      textMode: 'value_and_name',
      decimals: 4,
      overrides: [override('byName', 'fetched', { mappings: mapping([[1, 'fetched', 'green'], [0, 'constant', 'blue']]), decimals: 0 })],
      w: 6,
      h: 5,
    }),
    stat('Price source', 'Since the price URL last answered (empty: no URL, the constants are served), and its failed fetches over the time range.', [
      q('time() - max(price_source_last_success_timestamp_seconds)', 'last answer'),
      q('sum(increase(price_source_fetches_total{result!="ok"}[$__range]))', 'failed fetches'),
    ], { textMode: 'value_and_name', decimals: 0, overrides: [override('byName', 'last answer', { unit: 's' })], noValue: '—', w: 6, h: 5 }),
    timeseries('Revenue, electricity and profit per day', 'For the selected sites, at each point of time: hashrate × hashprice, power × 24 h × tariff, and their difference.', [
      q(`sum(${revenue})`, 'revenue'),
      q(`sum(${cost})`, 'electricity'),
      q(`sum(${revenue}) - sum(${cost})`, 'profit'),
    ], { ...money, overrides: [fixedColor('revenue', 'green'), fixedColor('electricity', 'red'), fixedColor('profit', 'blue')], w: 12, h: 8 }),
    timeseries('Profit per day by site', 'Revenue minus electricity, per site.', [
      q(`${revenue} - ${cost}`, '{{site}}'),
    ], { ...money, w: 12, h: 8 }),
    table('Payback by model', 'Per miner of each model now: hashrate, power, J/TH, revenue, electricity and profit per day, what it cost (price.yml) and the months its profit takes to pay that back ("never": no profit at today\'s prices).', [
      qi(modelMiners),
      qi(perMiner(`sum by (model) (site_model:cgminer_hashrate_hashes_per_second:sum{${SM}})`)),
      qi(perMiner(`sum by (model) (site_model:cgminer_power_watts:sum{${SM}})`)),
      qi(`max by (model) (model:cgminer_efficiency_joules_per_terahash:ratio{${M}})`),
      qi(modelRevenue),
      qi(modelCost),
      qi(modelProfit),
      qi(`max by (model) (price_miner_purchase{${M}})`),
      qi(payback),
    ], {
      join: 'model',
      rename: {
        'Value #A': 'miners', 'Value #B': 'hashrate', 'Value #C': 'power', 'Value #D': 'J/TH', 'Value #E': 'revenue/day',
        'Value #F': 'electricity/day', 'Value #G': 'profit/day', 'Value #H': 'purchase', 'Value #I': 'months to pay back',
      },
      hide: { currency: true },
      sortBy: 'months to pay back',
      sortDesc: false,
      overrides: [
        override('byName', 'hashrate', { unit: 'Hs' }),
        override('byName', 'power', { unit: 'watt', decimals: 0 }),
        override('byName', 'J/TH', { unit: 'suffix: J/TH', decimals: 1 }),
        override('byRegexp', '/day|purchase/', { decimals: 2 }),
        override('byName', 'months to pay back', {
          decimals: 1, noValue: 'never', color: { mode: 'thresholds' }, thresholds: thresholds('green', 18, 'orange', 36, 'red'),
          'custom.cellOptions': { type: 'color-text' },
        }),
      ],
      w: 24,
      h: 9,
    }),
    bargauge('Months to pay back by model', 'Purchase price ÷ (profit per miner per day × 30.44); models without profit today are left out.', [
      q(`sort(${payback})`, '{{model}}', { instant: true, range: false }),
    ], { decimals: 1, thresholds: thresholds('green', 18, 'orange', 36, 'red'), w: 12, h: 8 }),
    table('Tariffs', 'Electricity per kWh on each selected site (its own in price.yml, else the default).', [
      qi(TARIFF),
    ], { rename: { Value: 'per kWh' }, decimals: 4, w: 12, h: 8 }),

    row('Power and efficiency'),
    stat('Power', 'Of the selected sites\' miners that report it.', [q(`sum(site:cgminer_power_watts:sum{${S}})`, 'power')], { unit: 'watt', graph: true, w: 6, h: 5 }),
    stat('Energy, last 24 h', 'Average power over the last day × 24 h.', [
      q(`sum(avg_over_time(site:cgminer_power_watts:sum{${S}}[1d])) * 24 / 1000`, 'kWh'),
    ], { unit: 'kwatth', decimals: 0, w: 6, h: 5 }),
    bargauge('Efficiency by site', 'Joules per terahash (lower is better), over the miners that report power and hashrate.', [
      q(`site:cgminer_efficiency_joules_per_terahash:ratio{${S}}`, '{{site}}'),
    ], { unit: 'suffix: J/TH', decimals: 1, thresholds: thresholds('green', 35, 'orange', 60, 'red'), w: 12, h: 5 }),
    timeseries('Energy per day by site', 'kWh each day: average power over the day × 24 h.', [
      q(`avg_over_time(site:cgminer_power_watts:sum{${S}}[1d]) * 24 / 1000`, '{{site}}'),
    ], { unit: 'kwatth', bars: true, stack: true, interval: '1d', w: 12, h: 8 }),
    timeseries('Power by site', 'Power draw of the miners that report it.', [
      q(`site:cgminer_power_watts:sum{${S}}`, '{{site}}'),
    ], { unit: 'watt', w: 12, h: 8 }),
    bargauge('Efficiency by model', 'J/TH of each model, all sites, over its miners that report power and hashrate.', [
      q(`sort(model:cgminer_efficiency_joules_per_terahash:ratio{${M}})`, '{{model}}'),
    ], { unit: 'suffix: J/TH', decimals: 1, thresholds: thresholds('green', 35, 'orange', 60, 'red'), w: 12, h: 8 }),
    timeseries('Power by model', 'Power of each model\'s miners that report it, on the selected sites.', [
      q(`sum by (model) (site_model:cgminer_power_watts:sum{${SM}})`, '{{model}}'),
    ], { unit: 'watt', w: 12, h: 8 }),
    table('Least efficient miners', 'The 20 miners using the most energy per terahash now.', [
      qi(`topk(20, cgminer_power_watts{${S}} / (cgminer_hashrate_hashes_per_second{${S}} > 0) * 1e12 * on (instance, job) group_left (model) ${INFO})`),
    ], {
      unit: 'suffix: J/TH', decimals: 1, rename: { Value: 'J/TH' }, sortBy: 'J/TH', thresholds: thresholds('green', 35, 'orange', 60, 'red'),
      color: 'thresholds', cell: { type: 'color-text' }, dataLinks: minerLink,
      hide: { firmware: true, software: true, software_version: true, api_version: true }, w: 24, h: 8,
    }),
  ],
});
