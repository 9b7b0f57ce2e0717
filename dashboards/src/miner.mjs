// One miner: everything the exporter knows about one machine (identity, hashrate, boards, chips,
// temperatures, fans, pools, devices, probe), its alerts, and a link to its repair tasks.
import {
  dashboard,
  datasourceVar,
  link,
  mapping,
  nominalDashed,
  q,
  qi,
  queryVar,
  row,
  stat,
  statusHistory,
  table,
  text,
  textboxVar,
  thresholds,
  timeseries,
} from './lib.mjs';

const I = 'instance="$instance"';
const upDown = mapping([[1, 'UP', 'green'], [0, 'DOWN', 'red']]);
const yesNo = mapping([[1, 'yes', 'green'], [0, 'no', 'red']]);
const tempSteps = thresholds('green', 80, 'orange', 95, 'red');

export default dashboard({
  uid: 'cgminer-miner',
  title: 'Miner',
  description: 'Everything about one miner: identity, hashrate, boards, chips, temperatures, fans, pools, devices, alerts and its repair tasks.',
  tags: ['cgminer', 'miner'],
  time: 'now-24h',
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(cgminer_up, site)'),
    queryVar('model', 'Model', 'label_values(cgminer_info{site=~"$site"}, model)'),
    // Miners whose model is unknown (not answering: no cgminer_info) stay listed.
    queryVar('instance', 'Miner', 'query_result(cgminer_up{site=~"$site"} unless on(instance) cgminer_info{model!~"$model"})', {
      multi: false,
      regex: '/instance="([^"]+)"/',
    }),
    textboxVar('receiver_url', 'Repair board', 'http://localhost:9155', 'Base URL of repair_receiver (its board and task pages).'),
  ],
  links: [link('Repair tasks of this miner', '${receiver_url}/?instance=${instance}', 'repair_receiver board filtered to this miner')],
  panels: [
    row('Overview'),
    stat('Status', 'Whether the miner answered the last probe.', [q(`cgminer_up{${I}}`, 'status')], {
      mappings: upDown, color: 'thresholds', thresholds: thresholds('red', 1, 'green'), colorMode: 'background', w: 3, h: 4,
    }),
    stat('Sleeping', 'Deliberately idle (sleep or curtailment).', [q(`cgminer_sleeping{${I}}`, 'sleeping')], {
      mappings: mapping([[1, 'asleep', 'blue'], [0, 'awake', 'green']]), w: 3, h: 4,
    }),
    stat('Identity', 'Model, firmware and mining software as the miner reports them.', [
      qi(`cgminer_info{${I}}`, '{{model}} · {{firmware}} · {{software}} {{software_version}}', { format: 'time_series' }),
    ], { textMode: 'name', colorMode: 'none', w: 8, h: 4 }),
    stat('Uptime', 'Since the mining software started.', [q(`cgminer_uptime_seconds{${I}}`, 'uptime')], {
      unit: 's', thresholds: thresholds('orange', 3600, 'green'), w: 3, h: 4,
    }),
    stat('Probe error', 'Why the last probe failed (absent while the miner answers).', [
      q(`cgminer_probe_error_info{${I}}`, '{{reason}}'),
    ], { textMode: 'name', colorMode: 'background', color: 'fixed', noValue: 'none', w: 4, h: 4 }),
    text('Repairs', [
      '**[Repair tasks of this miner](${receiver_url}/?instance=${instance})**',
      '',
      '[Open tasks on this site](${receiver_url}/?site=${site}) · [API](${receiver_url}/api/v1/tasks?instance=${instance})',
    ].join('\n'), { w: 3, h: 4 }),
    stat('Hashrate', 'Current hashrate (the miner\'s shortest window).', [q(`cgminer_hashrate_hashes_per_second{${I}}`, 'hashrate')], {
      unit: 'Hs', graph: true, w: 4, h: 4,
    }),
    stat('Of nominal', 'Current hashrate divided by the nominal hashrate.', [
      q(`cgminer_hashrate_hashes_per_second{${I}} / cgminer_hashrate_nominal_hashes_per_second{${I}}`, 'of nominal'),
    ], { unit: 'percentunit', thresholds: thresholds('red', 0.8, 'orange', 0.95, 'green'), decimals: 1, w: 4, h: 4 }),
    stat('Boards', 'Detected of expected hashboards.', [
      q(`cgminer_boards{${I}}`, 'detected'),
      q(`cgminer_boards_expected{${I}}`, 'expected'),
    ], { textMode: 'value_and_name', w: 4, h: 4 }),
    stat('Power', 'Power draw, where the miner reports it.', [q(`cgminer_power_watts{${I}}`, 'power')], { unit: 'watt', w: 4, h: 4 }),
    stat('Efficiency', 'Joules per terahash.', [
      q(`cgminer_power_watts{${I}} / (cgminer_hashrate_hashes_per_second{${I}} / 1e12)`, 'J/TH'),
    ], { unit: 'suffix: J/TH', decimals: 1, w: 4, h: 4 }),
    stat('Open alerts', 'Firing alerts on this miner.', [
      q(`count(ALERTS{alertstate="firing", ${I}}) or vector(0)`, 'alerts'),
    ], { thresholds: thresholds('green', 1, 'red'), w: 4, h: 4 }),
    table('Firing alerts', 'The alerts firing on this miner now.', [qi(`ALERTS{alertstate="firing", ${I}}`)], {
      hide: { Value: true, alertstate: true, instance: true }, w: 24, h: 5,
    }),
    statusHistory('Status history', 'Answering (green), not answering (red), sleeping.', [
      q(`cgminer_up{${I}}`, 'answering'),
      q(`cgminer_sleeping{${I}}`, 'sleeping'),
    ], { mappings: mapping([[1, 'yes', 'green'], [0, 'no', 'red']]), w: 24, h: 4 }),

    row('Hashrate'),
    timeseries('Hashrate', 'Current, average since start, and nominal.', [
      q(`cgminer_hashrate_hashes_per_second{${I}}`, 'current'),
      q(`cgminer_hashrate_average_hashes_per_second{${I}}`, 'average'),
      q(`cgminer_hashrate_nominal_hashes_per_second{${I}}`, 'nominal'),
    ], { unit: 'Hs', overrides: [nominalDashed], w: 12, h: 9 }),
    timeseries('Hashrate by board', 'Each hashboard against its nominal.', [
      q(`cgminer_board_hashrate_hashes_per_second{${I}}`, 'board {{board}}'),
      q(`cgminer_board_hashrate_nominal_hashes_per_second{${I}}`, 'board {{board}} nominal'),
    ], { unit: 'Hs', overrides: [nominalDashed], w: 12, h: 9 }),

    row('Boards and chips'),
    table('Boards', 'One row per hashboard.', [
      qi(`cgminer_board_hashrate_hashes_per_second{${I}}`),
      qi(`cgminer_board_hashrate_nominal_hashes_per_second{${I}}`),
      qi(`cgminer_board_chips{${I}}`),
      qi(`cgminer_board_chips_expected{${I}}`),
      qi(`cgminer_board_chips_failed{${I}}`),
      qi(`cgminer_board_hardware_errors_total{${I}}`),
    ], {
      hide: { instance: true, site: true, rack: true },
      rename: {
        'Value #A': 'hashrate', 'Value #B': 'nominal', 'Value #C': 'chips', 'Value #D': 'chips expected',
        'Value #E': 'chips failed', 'Value #F': 'hardware errors',
      },
      overrides: [
        { matcher: { id: 'byRegexp', options: '/^(hashrate|nominal)$/' }, properties: [{ id: 'unit', value: 'Hs' }] },
      ],
      w: 24, h: 6,
    }),
    timeseries('Hardware errors by board', 'Per second.', [
      q(`rate(cgminer_board_hardware_errors_total{${I}}[$__rate_interval])`, 'board {{board}}'),
      q(`rate(cgminer_hardware_errors_total{${I}}[$__rate_interval])`, 'miner'),
    ], { unit: 'short', w: 12, h: 8 }),
    timeseries('Chips', 'Detected and failed chips per board.', [
      q(`cgminer_board_chips{${I}}`, 'board {{board}} detected'),
      q(`cgminer_board_chips_failed{${I}}`, 'board {{board}} failed'),
    ], { unit: 'short', w: 12, h: 8 }),

    row('Temperatures and fans'),
    timeseries('Board temperatures', 'Each board sensor (chip, pcb, inlet, outlet…).', [
      q(`cgminer_board_temperature_celsius{${I}}`, 'board {{board}} {{sensor}}'),
    ], { unit: 'celsius', thresholds: tempSteps, w: 12, h: 9, legendCalcs: ['lastNotNull', 'max'] }),
    timeseries('Miner temperatures', 'Miner-level sensors.', [
      q(`cgminer_temperature_celsius{${I}}`, '{{sensor}}'),
    ], { unit: 'celsius', thresholds: tempSteps, w: 12, h: 9 }),
    timeseries('Fans', 'Revolutions per minute.', [q(`cgminer_fan_speed_rpm{${I}}`, 'fan {{fan}}')], {
      unit: 'rpm', w: 16, h: 8,
    }),
    stat('Fans', 'Fans reporting, spinning, and expected.', [
      q(`count(cgminer_fan_speed_rpm{${I}})`, 'reporting'),
      q(`count(cgminer_fan_speed_rpm{${I}} > 0) or vector(0)`, 'spinning'),
      q(`cgminer_fans_expected{${I}}`, 'expected'),
    ], { textMode: 'value_and_name', w: 8, h: 8 }),

    row('Pools'),
    table('Pools', 'The pools configured on the miner.', [
      qi(`cgminer_pool_up{${I}}`),
      qi(`cgminer_pool_active{${I}}`),
      qi(`cgminer_pool_priority{${I}}`),
      qi(`cgminer_pool_expected{${I}}`),
      qi(`cgminer_pool_devfee{${I}}`),
      qi(`time() - cgminer_pool_last_share_timestamp_seconds{${I}}`),
    ], {
      hide: { instance: true, site: true, rack: true },
      rename: {
        'Value #A': 'alive', 'Value #B': 'active', 'Value #C': 'priority', 'Value #D': 'expected',
        'Value #E': 'fee pool', 'Value #F': 'since last share',
      },
      overrides: [
        { matcher: { id: 'byRegexp', options: '/^(alive|active|expected|fee pool)$/' }, properties: [{ id: 'mappings', value: yesNo }] },
        { matcher: { id: 'byName', options: 'since last share' }, properties: [{ id: 'unit', value: 's' }] },
      ],
      w: 24, h: 6,
    }),
    timeseries('Shares by pool', 'Accepted and rejected shares per second.', [
      q(`rate(cgminer_pool_shares_accepted_total{${I}}[$__rate_interval])`, 'pool {{pool}} accepted'),
      q(`rate(cgminer_pool_shares_rejected_total{${I}}[$__rate_interval])`, 'pool {{pool}} rejected'),
    ], { unit: 'short', w: 12, h: 8 }),
    timeseries('Shares', 'Miner totals per second.', [
      q(`rate(cgminer_shares_accepted_total{${I}}[$__rate_interval])`, 'accepted'),
      q(`rate(cgminer_shares_rejected_total{${I}}[$__rate_interval])`, 'rejected'),
      q(`rate(cgminer_shares_stale_total{${I}}[$__rate_interval])`, 'stale'),
      q(`rate(cgminer_difficulty_accepted_total{${I}}[$__rate_interval]) * 2^32`, 'accepted difficulty (H/s)'),
    ], {
      unit: 'short', w: 12, h: 8,
      overrides: [{ matcher: { id: 'byRegexp', options: '/difficulty/' }, properties: [{ id: 'unit', value: 'Hs' }, { id: 'custom.axisPlacement', value: 'right' }] }],
    }),

    row('Devices and probe'),
    table('Devices', 'From the devs command.', [
      qi(`cgminer_device_alive{${I}}`),
      qi(`cgminer_device_enabled{${I}}`),
    ], {
      hide: { instance: true, site: true, rack: true },
      rename: { 'Value #A': 'alive', 'Value #B': 'enabled' },
      overrides: [{ matcher: { id: 'byRegexp', options: '/^(alive|enabled)$/' }, properties: [{ id: 'mappings', value: yesNo }] }],
      w: 8, h: 8,
    }),
    table('API commands', '1 when the command answered.', [qi(`cgminer_command_success{${I}}`)], {
      hide: { instance: true, site: true, rack: true }, rename: { Value: 'answered' }, mappings: yesNo, w: 8, h: 8,
    }),
    timeseries('Probe duration', 'Wall time of each probe.', [q(`cgminer_probe_duration_seconds{${I}}`, 'probe')], {
      unit: 's', w: 8, h: 8,
    }),
  ],
});
