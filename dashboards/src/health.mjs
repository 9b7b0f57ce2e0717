// The monitoring's own health: whether the probes, discovery, inventory, rules, alert delivery and
// the repair receiver work, and the Watchdog heartbeat through all of them. Everything here is
// the exporter's, Prometheus's, Alertmanager's and the receiver's own metrics: a few series each,
// except the per-target scrape series (one per miner), read only as counts and topk.
import {
  bargauge,
  constVar,
  dashboard,
  datasourceVar,
  fixedColor,
  link,
  mapping,
  override,
  q,
  qi,
  row,
  stat,
  table,
  textboxVar,
  thresholds,
  timeseries,
} from './lib.mjs';

const minerLink = [
  { title: 'Open this miner', url: '/d/cgminer-miner/miner?var-instance=${__data.fields.instance}&${__url_time_range}' },
];
const upDown = mapping([[1, 'UP', 'green'], [0, 'DOWN', 'red']]);
const probeQuantile = (phi) =>
  `histogram_quantile(${phi}, sum by (le) (rate(cgminer_exporter_probe_duration_seconds_bucket[$__rate_interval])))`;
const ago = (metric) => `time() - max(${metric})`;

export default dashboard({
  uid: 'cgminer-health',
  title: 'Monitoring health',
  description: 'Is the monitoring itself working: probes against the scrape timeout, discovery coverage and scans, the inventory, rule groups, alert delivery, the repair receiver\'s intake, notifications and verifications, and the Watchdog.',
  tags: ['cgminer', 'meta'],
  time: 'now-24h',
  variables: [
    datasourceVar,
    // prometheus.yml's scrape_timeout of job cgminer (dashboards/check holds the two equal).
    constVar('scrape_timeout', '20', 'Seconds: the scrape_timeout of job cgminer in prometheus.yml; the exporter ends a probe 0.5 s before it.'),
    textboxVar('receiver_url', 'Repair board', 'http://localhost:9155', 'Base URL of repair_receiver (its board and task pages).'),
  ],
  links: [link('Repair board', '${receiver_url}/', 'repair_receiver')],
  panels: [
    row('Watchdog and meta alerts'),
    stat('Watchdog in Prometheus', 'The always-firing Watchdog alert: absent means Prometheus evaluates no alerting rules.', [
      q('max(ALERTS{alertname="Watchdog", alertstate="firing"}) or vector(0)', 'Watchdog'),
    ], { mappings: mapping([[1, 'firing', 'green'], [0, 'missing', 'red']]), color: 'thresholds', thresholds: thresholds('red', 1, 'green'), colorMode: 'background', w: 4, h: 4 }),
    stat('Watchdog at the receiver', 'Since the Watchdog last arrived at repair_receiver (through Alertmanager, every 2 minutes): over 10 minutes RepairPipelineBroken fires.', [
      q(ago('repair_receiver_watchdog_last_seen_timestamp_seconds'), 'since'),
    ], { unit: 's', thresholds: thresholds('green', 300, 'orange', 600, 'red'), colorMode: 'background', w: 4, h: 4 }),
    stat('Scraped', 'The monitoring\'s own jobs as Prometheus scrapes them.', [
      q('max(up{job="cgminer_exporter"})', 'exporter'),
      q('max(up{job="repair_receiver"})', 'receiver'),
      q('max(up{job="alertmanager"})', 'alertmanager'),
      q('max(up{job="prometheus"})', 'prometheus'),
    ], { mappings: upDown, color: 'thresholds', thresholds: thresholds('red', 1, 'green'), textMode: 'value_and_name', colorMode: 'background', w: 8, h: 4 }),
    stat('Meta alerts firing', 'Alerts about the monitoring itself (category meta), the Watchdog left out.', [
      q('count(ALERTS{alertstate="firing", category="meta", alertname!="Watchdog"}) or vector(0)', 'meta alerts'),
    ], { thresholds: thresholds('green', 1, 'red'), colorMode: 'background', w: 8, h: 4 }),
    table('Meta alerts', 'Which: ExporterProbesFailing, MinerScrapeFailing, RepairPipelineBroken, RepairReceiverStoreFailing (by reason).', [
      qi('topk(50, ALERTS{alertstate="firing", category="meta", alertname!="Watchdog"})'),
    ], { hide: { Value: true, alertstate: true, category: true }, dataLinks: minerLink, w: 24, h: 6 }),

    row('Probes'),
    stat('Probe success', 'Probes the exporter answered with cgminer_up 1, of all probes (a miner that is down is a failed probe).', [
      q('sum(rate(cgminer_exporter_probes_total{result="success"}[$__rate_interval])) / sum(rate(cgminer_exporter_probes_total[$__rate_interval]))', 'success'),
    ], { unit: 'percentunit', decimals: 1, thresholds: thresholds('red', 0.5, 'orange', 0.95, 'green'), graph: true, w: 4, h: 5 }),
    stat('Scrapes', '/probe scrapes that failed (up 0: HTTP error, timeout, the job\'s sample or label limits), that took over 80 % of the scrape timeout, and that broke the sample limit in the last hour.', [
      q('count(up{job="cgminer"} == 0) or vector(0)', 'failing'),
      q('count(scrape_duration_seconds{job="cgminer"} > 0.8 * $scrape_timeout) or vector(0)', 'near the timeout'),
      q('sum(increase(prometheus_target_scrapes_exceeded_sample_limit_total[1h]))', 'over the sample limit'),
    ], { textMode: 'value_and_name', thresholds: thresholds('green', 1, 'orange'), decimals: 0, w: 8, h: 5 }),
    stat('Exporter', 'Its configuration\'s last reload, and debug probes refused by the rate limit.', [
      q('min(cgminer_exporter_config_last_reload_successful)', 'config loaded'),
      q('sum(increase(cgminer_exporter_debug_probes_limited_total[$__range]))', 'debug probes limited'),
    ], { textMode: 'value_and_name', decimals: 0, overrides: [override('byName', 'config loaded', { mappings: mapping([[1, 'yes', 'green'], [0, 'FAILED', 'red']]) })], w: 6, h: 5 }),
    stat('Probe duration', '90th percentile of the exporter\'s probes and the slowest /probe scrape now, against the scrape timeout.', [
      q(probeQuantile(0.9), 'p90'),
      q('max(scrape_duration_seconds{job="cgminer"})', 'slowest scrape'),
      q('vector($scrape_timeout)', 'timeout'),
    ], { unit: 's', textMode: 'value_and_name', thresholds: thresholds('green', 10, 'orange', 16, 'red'), w: 6, h: 5 }),
    timeseries('Probe duration against the scrape timeout', 'Quantiles of the exporter\'s probe durations (all modules) and the slowest /probe scrape; the red line is the scrape timeout, where a scrape fails.', [
      q(probeQuantile(0.5), 'p50'),
      q(probeQuantile(0.9), 'p90'),
      q(probeQuantile(0.99), 'p99'),
      q('max(scrape_duration_seconds{job="cgminer"})', 'slowest scrape'),
      q('vector($scrape_timeout)', 'scrape timeout'),
    ], {
      unit: 's',
      overrides: [override('byName', 'scrape timeout', { color: { mode: 'fixed', fixedColor: 'red' }, 'custom.lineStyle': { fill: 'dash', dash: [10, 10] }, 'custom.fillOpacity': 0 })],
      w: 12,
      h: 8,
    }),
    timeseries('Probe results', 'Probes per second by result (success, or why the miner did not answer).', [
      q('sum by (result) (rate(cgminer_exporter_probes_total[$__rate_interval]))', '{{result}}'),
    ], { unit: 'ops', stack: true, w: 12, h: 8 }),
    table('Slowest scrapes', 'The 10 slowest /probe scrapes now.', [
      qi('topk(10, scrape_duration_seconds{job="cgminer"})'),
    ], { unit: 's', rename: { Value: 'duration' }, sortBy: 'duration', dataLinks: minerLink, thresholds: thresholds('green', 10, 'orange', 16, 'red'), color: 'thresholds', cell: { type: 'color-text' }, w: 12, h: 8 }),
    bargauge('Probe success by module', 'Over the time range.', [
      q('sum by (module) (increase(cgminer_exporter_probes_total{result="success"}[$__range])) / sum by (module) (increase(cgminer_exporter_probes_total[$__range]))', '{{module}}'),
    ], { unit: 'percentunit', min: 0, max: 1, thresholds: thresholds('red', 0.5, 'orange', 0.95, 'green'), w: 12, h: 8 }),

    row('Discovery and inventory'),
    stat('Coverage', 'Miners discovery knows, the targets Prometheus got from discovery and targets/ (http_sd and file_sd), and those it scrapes.', [
      q('sum(cgminer_discovery_miners)', 'discovered'),
      q('sum(cgminer_discovery_miners{answering="1"})', 'answered the scan'),
      q('sum(prometheus_sd_discovered_targets{config="cgminer"})', 'targets found'),
      q('count(up{job="cgminer"})', 'scraped'),
    ], { textMode: 'value_and_name', w: 12, h: 5 }),
    stat('Scans', 'The last complete scan: how long ago it ended and how long it took.', [
      q(ago('cgminer_discovery_last_scan_completed_timestamp_seconds'), 'ended ago'),
      q('max(cgminer_discovery_scan_duration_seconds)', 'took'),
    ], { unit: 's', textMode: 'value_and_name', w: 6, h: 5 }),
    stat('Inventory', 'Miner records the exporter keeps, and since its file was last written.', [
      q('sum(cgminer_inventory_records)', 'records'),
      q(ago('cgminer_inventory_last_save_timestamp_seconds'), 'saved ago'),
    ], { textMode: 'value_and_name', overrides: [override('byName', 'saved ago', { unit: 's' })], w: 6, h: 5 }),
    timeseries('Scanning', 'Addresses asked and answers per second; the scan\'s duration on the right axis.', [
      q('sum(rate(cgminer_discovery_addresses_scanned_total[$__rate_interval]))', 'addresses scanned'),
      q('sum(rate(cgminer_discovery_answers_total[$__rate_interval]))', 'answers'),
      q('max(cgminer_discovery_scan_duration_seconds)', 'scan duration'),
    ], {
      unit: 'ops',
      overrides: [override('byName', 'scan duration', { unit: 's', 'custom.axisPlacement': 'right' })],
      w: 12,
      h: 8,
    }),
    timeseries('Inventory changes', 'Records dropped to make room (evictions), new ones refused (full), and failed saves, per hour.', [
      q('sum(increase(cgminer_inventory_evictions_total[1h]))', 'evicted'),
      q('sum(increase(cgminer_inventory_refused_total[1h]))', 'refused'),
      q('sum(increase(cgminer_inventory_save_failures_total[1h]))', 'save failures'),
    ], { interval: '1h', overrides: [fixedColor('save failures', 'red')], w: 12, h: 8 }),
    table('Discovered miners by site and model', 'From the last scans; answering 0: listed but silent in the last scan.', [
      qi('sum by (site, model, firmware, answering) (cgminer_discovery_miners)'),
    ], { rename: { Value: 'miners' }, sortBy: 'miners', w: 24, h: 7 }),

    row('Rules'),
    bargauge('Rule groups: time of their interval', 'How much of its interval each rule group\'s last evaluation took: at 100 % evaluations are missed.', [
      q('sort_desc(max by (rule_group) (prometheus_rule_group_last_duration_seconds / prometheus_rule_group_interval_seconds))', '{{rule_group}}'),
    ], { unit: 'percentunit', min: 0, max: 1, thresholds: thresholds('green', 0.5, 'orange', 0.9, 'red'), w: 12, h: 9 }),
    stat('Rule health', 'Over the time range: evaluations missed (a group took longer than its interval), rules that failed to evaluate, and groups not evaluated for three intervals now.', [
      q('sum(increase(prometheus_rule_group_iterations_missed_total[$__range]))', 'missed'),
      q('sum(increase(prometheus_rule_evaluation_failures_total[$__range]))', 'failed'),
      q('count(time() - prometheus_rule_group_last_evaluation_timestamp_seconds > 3 * prometheus_rule_group_interval_seconds) or vector(0)', 'stalled groups'),
      q('sum(increase(prometheus_rule_group_iterations_total[$__range]))', 'evaluations'),
    ], { textMode: 'value_and_name', decimals: 0, thresholds: thresholds('green', 1, 'red'), overrides: [fixedColor('evaluations', 'text')], w: 12, h: 9 }),
    timeseries('Rule group durations', 'Each group\'s last evaluation time.', [
      q('max by (rule_group) (prometheus_rule_group_last_duration_seconds)', '{{rule_group}}'),
    ], { unit: 's', w: 24, h: 8 }),

    row('Alert delivery'),
    stat('Prometheus → Alertmanager', 'Alertmanagers Prometheus knows, its queue, and alerts sent, failed and dropped over the time range.', [
      q('max(prometheus_notifications_alertmanagers_discovered)', 'alertmanagers'),
      q('max(prometheus_notifications_queue_length)', 'queued'),
      q('sum(increase(prometheus_notifications_sent_total[$__range]))', 'sent'),
      q('sum(increase(prometheus_notifications_errors_total[$__range]))', 'errors'),
      q('sum(increase(prometheus_notifications_dropped_total[$__range]))', 'dropped'),
    ], { textMode: 'value_and_name', decimals: 0, overrides: [fixedColor('errors', 'red'), fixedColor('dropped', 'red')], w: 12, h: 5 }),
    stat('Alertmanager', 'Alerts it holds by state, and alerts received over the time range.', [
      q('sum by (state) (alertmanager_alerts)', '{{state}}'),
      q('sum(increase(alertmanager_alerts_received_total[$__range]))', 'received'),
    ], { textMode: 'value_and_name', decimals: 0, w: 12, h: 5 }),
    timeseries('Alertmanager notifications', 'Per hour by integration (Telegram, e-mail, the receiver\'s webhook), and failures.', [
      q('sum by (integration) (increase(alertmanager_notifications_total[1h]))', '{{integration}}'),
      q('sum by (integration) (increase(alertmanager_notifications_failed_total[1h]))', '{{integration}} failed'),
    ], { interval: '1h', overrides: [override('byRegexp', '/failed/', { color: { mode: 'fixed', fixedColor: 'red' } })], w: 24, h: 8 }),

    row('Repair receiver'),
    timeseries('Intake', 'Alertmanager\'s webhook deliveries by result, and the alerts in them by status, per second.', [
      q('sum by (result) (rate(repair_receiver_webhook_requests_total[$__rate_interval]))', 'requests {{result}}'),
      q('sum by (status) (rate(repair_receiver_webhook_alerts_total[$__rate_interval]))', 'alerts {{status}}'),
    ], { unit: 'reqps', w: 12, h: 8 }),
    stat('Outbox', 'Deliveries given up on for open tasks, by channel (none: the person has no contact), and notifications over the time range by result.', [
      q('sum by (channel) (repair_receiver_notifications_undeliverable)', 'undeliverable {{channel}}'),
      q('sum by (result) (increase(repair_receiver_notifications_total[$__range]))', '{{result}}'),
    ], { textMode: 'value_and_name', decimals: 0, overrides: [override('byRegexp', '/undeliverable|gave_up/', { color: { mode: 'fixed', fixedColor: 'red' } })], w: 12, h: 8 }),
    timeseries('Notification attempts', 'Per hour by channel and result (sent, failed and retried, gave_up).', [
      q('sum by (channel, result) (increase(repair_receiver_notification_attempts_total[1h]))', '{{channel}} {{result}}'),
    ], { interval: '1h', overrides: [override('byRegexp', '/gave_up/', { color: { mode: 'fixed', fixedColor: 'red' } })], w: 12, h: 8 }),
    timeseries('Escalations', 'Per hour by reason and step.', [
      q('sum by (reason, step) (increase(repair_receiver_escalations_total[1h]))', '{{reason}} step {{step}}'),
    ], { interval: '1h', w: 12, h: 8 }),
    stat('Verifications', 'Repairs checked against the monitoring over the time range, by result; and the fast checks of the alerts\' verify_expr.', [
      q('sum by (result) (increase(repair_receiver_verifications_total[$__range]))', '{{result}}'),
      q('sum by (result) (increase(repair_receiver_verify_expr_checks_total[$__range]))', 'verify_expr {{result}}'),
    ], { textMode: 'value_and_name', decimals: 0, overrides: [override('byRegexp', '/error|invalid/', { color: { mode: 'fixed', fixedColor: 'red' } })], w: 12, h: 6 }),
    stat('Store', 'Commits that failed over the time range, and since the last successful commit (the sweep commits every 30 s).', [
      q('sum(increase(repair_receiver_store_commit_failures_total[$__range]))', 'failed commits'),
      q(ago('repair_receiver_store_last_commit_success_timestamp_seconds'), 'last commit'),
      q('sum(increase(repair_receiver_reconcile_passes_total{result="error"}[$__range]))', 'reconcile errors'),
    ], { textMode: 'value_and_name', decimals: 0, overrides: [override('byName', 'last commit', { unit: 's' })], w: 12, h: 6 }),
  ],
});
