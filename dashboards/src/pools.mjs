// Pools: what each pool credits the farm against what the miners report. The effective hashrate
// is the accepted difficulty per second × 2^32 (one difficulty-1 share stands for 2^32 hashes on
// average), from the pool: recording rules (per site and pool url); per worker (the pool's user,
// one per miner here) from the per-miner counters, bounded with topk in a collapsed row.
import {
  dashboard,
  datasourceVar,
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

const P = 'site=~"$site", url=~"$pool"';
const S = 'site=~"$site"';
// Per worker: the per-miner pool counters of the chosen sites, pools and workers.
const W = 'site=~"$site", url=~"$pool", user=~"$worker"';
const effective = (sel, by = '') => `sum${by} (pool:cgminer_pool_difficulty_accepted:rate5m{${sel}}) * 2^32`;
const rejectRatio = (sel, by = '') =>
  `sum${by} (pool:cgminer_pool_shares_rejected:rate5m{${sel}}) / (sum${by} (pool:cgminer_pool_shares_accepted:rate5m{${sel}}) + sum${by} (pool:cgminer_pool_shares_rejected:rate5m{${sel}}))`;
const ratioSteps = thresholds('red', 0.85, 'orange', 0.95, 'green');
const reportedDashed = override('byRegexp', '/reported/', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] }, 'custom.fillOpacity': 0 });

// The workers shown: the 50 with the most accepted difficulty over the last hour.
const TOP = `topk(50, sum by (url, user) (rate(cgminer_pool_difficulty_accepted_total{${W}}[1h])))`;
const workerEffective = `sum by (url, user) (rate(cgminer_pool_difficulty_accepted_total{${W}}[1h])) * 2^32`;
// Each miner's hashrate on its active pool, split evenly over several (as the pool: rule does).
const workerReported = `sum by (url, user) ((cgminer_pool_active{${W}} == 1) * on (instance, job) group_left () (cgminer_hashrate_hashes_per_second{${S}} / on (instance, job) count by (instance, job) (cgminer_pool_active{${S}} == 1)))`;

export default dashboard({
  uid: 'cgminer-pools',
  title: 'Pools',
  description: 'Per pool and worker: shares per hour, the hashrate the pool credits (accepted difficulty × 2^32 per second) against the hashrate the miners report, rejected and stale shares.',
  tags: ['cgminer', 'pools'],
  time: 'now-24h',
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(pool:cgminer_pool_shares_accepted:rate5m, site)'),
    queryVar('pool', 'Pool', 'label_values(pool:cgminer_pool_difficulty_accepted:rate5m{site=~"$site"}, url)'),
    textboxVar('worker', 'Worker', '.*', 'A regular expression over the pool user (worker) for the per-worker tables, e.g. farm\\.127-1-0-.*'),
  ],
  panels: [
    row('Pools'),
    stat('Credited hashrate', 'What the selected pools credit: accepted difficulty per second × 2^32.', [
      q(effective(P), 'credited'),
    ], { unit: 'Hs', graph: true, w: 5, h: 5 }),
    stat('Reported hashrate', 'What the miners mining on those pools report now.', [
      q(`sum(pool:cgminer_hashrate_hashes_per_second:sum{${P}})`, 'reported'),
    ], { unit: 'Hs', graph: true, w: 5, h: 5 }),
    stat('Credited of reported', 'Credited divided by reported: under 1 the pool sees less work than the miners claim (rejects, stale work, a fee pool taking its share, a miner misreporting). Shares are random: over 5 minutes a few percent either way is noise.', [
      q(`${effective(P)} / sum(pool:cgminer_hashrate_hashes_per_second:sum{${P}})`, 'of reported'),
    ], { unit: 'percentunit', decimals: 1, thresholds: ratioSteps, w: 4, h: 5 }),
    stat('Shares per hour', 'Accepted by the selected pools.', [
      q(`sum(pool:cgminer_pool_shares_accepted:rate5m{${P}}) * 3600`, 'shares/h'),
    ], { decimals: 0, graph: true, w: 5, h: 5 }),
    stat('Rejected', 'Rejected of all shares the selected pools answered.', [
      q(rejectRatio(P), 'rejected'),
    ], { unit: 'percentunit', decimals: 2, thresholds: thresholds('green', 0.02, 'orange', 0.05, 'red'), w: 5, h: 5 }),
    timeseries('Credited against reported hashrate by pool', 'Solid: accepted difficulty × 2^32 per second; dashed: the hashrate of the miners mining on the pool.', [
      q(effective(P, ' by (url)'), '{{url}}'),
      q(`sum by (url) (pool:cgminer_hashrate_hashes_per_second:sum{${P}})`, '{{url}} reported'),
    ], { unit: 'Hs', overrides: [reportedDashed], w: 12, h: 9 }),
    timeseries('Credited of reported by pool', 'Credited divided by reported hashrate, per pool.', [
      q(`${effective(P, ' by (url)')} / sum by (url) (pool:cgminer_hashrate_hashes_per_second:sum{${P}})`, '{{url}}'),
    ], { unit: 'percentunit', thresholds: ratioSteps, softMin: 0.5, w: 12, h: 9 }),
    timeseries('Shares per hour by pool', 'Accepted shares per hour.', [
      q(`sum by (url) (pool:cgminer_pool_shares_accepted:rate5m{${P}}) * 3600`, '{{url}}'),
    ], { w: 12, h: 8 }),
    timeseries('Rejected shares by pool', 'Rejected of accepted plus rejected shares, per pool.', [
      q(rejectRatio(P, ' by (url)'), '{{url}}'),
    ], { unit: 'percentunit', thresholds: thresholds('green', 0.02, 'orange', 0.05, 'red'), w: 12, h: 8 }),

    row('Sites'),
    timeseries('Credited against reported hashrate by site', 'Solid: what the selected pools credit the site; dashed: what its answering miners report.', [
      q(effective(P, ' by (site)'), '{{site}}'),
      q(`site:cgminer_hashrate_hashes_per_second:sum{${S}}`, '{{site}} reported'),
    ], { unit: 'Hs', overrides: [reportedDashed], w: 12, h: 8 }),
    timeseries('Rejected and stale shares by site', 'From the miners\' own counters (cgminer counts stale shares per miner, not per pool): rejected and stale per accepted plus rejected share.', [
      q(`site:cgminer_shares_rejected:rate5m{${S}} / (site:cgminer_shares_accepted:rate5m{${S}} + site:cgminer_shares_rejected:rate5m{${S}})`, '{{site}} rejected'),
      q(`site:cgminer_shares_stale:rate5m{${S}} / (site:cgminer_shares_accepted:rate5m{${S}} + site:cgminer_shares_rejected:rate5m{${S}})`, '{{site}} stale'),
    ], { unit: 'percentunit', thresholds: thresholds('green', 0.02, 'orange', 0.05, 'red'), w: 12, h: 8 }),

    row('Workers', true),
    table('Workers', 'The 50 workers (pool users) with the most accepted difficulty over the last hour, of the chosen sites, pools and the Worker expression: credited and reported hashrate, shares and rejects in that hour.', [
      qi(`${workerEffective} and on (url, user) ${TOP}`),
      qi(`${workerReported} and on (url, user) ${TOP}`),
      qi(`sum by (url, user) (increase(cgminer_pool_shares_accepted_total{${W}}[1h])) and on (url, user) ${TOP}`),
      qi(`sum by (url, user) (increase(cgminer_pool_shares_rejected_total{${W}}[1h])) / (sum by (url, user) (increase(cgminer_pool_shares_accepted_total{${W}}[1h])) + sum by (url, user) (increase(cgminer_pool_shares_rejected_total{${W}}[1h]))) and on (url, user) ${TOP}`),
    ], {
      rename: { 'Value #A': 'credited', 'Value #B': 'reported', 'Value #C': 'shares (1h)', 'Value #D': 'rejected' },
      sortBy: 'credited',
      overrides: [
        override('byName', 'credited', { unit: 'Hs' }),
        override('byName', 'reported', { unit: 'Hs' }),
        override('byName', 'rejected', { unit: 'percentunit', decimals: 2 }),
      ],
      w: 24,
      h: 10,
    }),
    table('Workers credited least of what they report', 'The 20 workers whose pool credited the smallest share of the hashrate their miners report, over the last hour (at least 60 shares, so the ratio is not noise).', [
      qi(`bottomk(20, (${workerEffective}) / (${workerReported} > 0) and on (url, user) (sum by (url, user) (increase(cgminer_pool_shares_accepted_total{${W}}[1h])) >= 60))`),
    ], { unit: 'percentunit', decimals: 1, rename: { Value: 'credited of reported' }, sortBy: 'credited of reported', sortDesc: false, thresholds: ratioSteps, color: 'thresholds', cell: { type: 'color-text' }, w: 24, h: 8 }),
    timeseries('Credited hashrate of the workers', 'The 20 workers of the Worker expression with the most accepted difficulty: credited over the last hour at each point.', [
      q(`topk(20, sum by (url, user) (rate(cgminer_pool_difficulty_accepted_total{${W}}[1h])) * 2^32)`, '{{user}} @ {{url}}'),
    ], { unit: 'Hs', w: 24, h: 8 }),
  ],
});
