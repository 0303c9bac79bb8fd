"""The report.html template (Jinja2, autoescaped): one self-contained page, inline CSS, no scripts.

Kept as a Python string so the package needs no data files to install.
"""

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ head.verdict|upper }} · {{ head.run_id }} · load test report</title>
<style>
  :root { --fail:#b42318; --fail-bg:#fde8e7; --warn:#8a5a00; --warn-bg:#fff4d6; --pass:#146c2e; --pass-bg:#e3f4e8;
          --unknown:#555; --unknown-bg:#eeeeee; --line:#d0d5dd; }
  * { box-sizing: border-box; }
  body { font-family: "DejaVu Sans", Verdana, Arial, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Zen Hei", sans-serif; font-size: 15px; line-height: 1.45; color: #1d2939;
         margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; background: #fff; }
  h1 { font-size: 24px; margin: 8px 0 4px; } h1 small { font-weight: normal; color: #475467; font-size: 16px; }
  h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #1d2939; }
  h3 { font-size: 16px; margin: 20px 0 6px; }
  p.note { color: #475467; margin: 4px 0 10px; font-size: 14px; }
  .verdict { border: 3px solid; border-radius: 8px; padding: 12px 18px; margin: 12px 0; }
  .verdict .word { font-size: 28px; font-weight: bold; letter-spacing: .5px; }
  .verdict ul { margin: 8px 0 0; padding-left: 22px; } .verdict li { margin: 3px 0; }
  .v-pass { border-color: var(--pass); background: var(--pass-bg); color: var(--pass); }
  .v-fail { border-color: var(--fail); background: var(--fail-bg); color: var(--fail); }
  .v-invalid, .v-interrupted, .v-unknown { border-color: var(--warn); background: var(--warn-bg); color: var(--warn);
         border-style: dashed; }
  .verdict li { color: #1d2939; }
  .chips span { display: inline-block; border: 1px solid var(--line); border-radius: 12px; padding: 1px 10px; margin: 2px 4px 2px 0;
                background: #fff; color: #1d2939; font-size: 14px; }
  table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 14px; }
  th, td { border: 1px solid var(--line); padding: 4px 7px; text-align: left; vertical-align: top; }
  th { background: #f2f4f7; font-weight: bold; }
  td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  td.nowrap, th.nowrap { white-space: nowrap; }
  table.facts { width: auto; min-width: 60%; } table.facts th { width: 300px; } table.facts td { font-size: 13px; }
  td.status { white-space: nowrap; font-weight: bold; }
  tr.st-fail td.status, tr.st-error td.status, tr.st-unmatched td.status { color: #fff; background: var(--fail); }
  tr.st-fail, tr.st-error, tr.st-unmatched { background: var(--fail-bg); }
  tr.st-fail td:first-child, tr.st-error td:first-child, tr.st-unmatched td:first-child { border-left: 6px solid var(--fail); }
  tr.st-warn td.status { color: #1d2939; background: #ffd666; }
  tr.st-warn { background: var(--warn-bg); } tr.st-warn td:first-child { border-left: 6px dashed var(--warn); }
  tr.st-unknown td.status { color: var(--unknown); font-style: italic; }
  tr.st-unknown { color: #475467; background: var(--unknown-bg); } tr.st-unknown td:first-child { border-left: 6px dotted var(--unknown); }
  tr.st-pass td.status { color: var(--pass); }
  td.explain { font-size: 13px; }
  table.targets { table-layout: fixed; } table.targets td { overflow-wrap: break-word; }
  table.targets td.num { white-space: normal; } table.targets code { white-space: normal; overflow-wrap: anywhere; }
  td .ci, th .ci { display: block; color: #475467; font-size: 12px; font-weight: normal; }
  .small { color: #475467; font-size: 12px; } td.explain .small { display: block; margin-top: 3px; }
  code { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; background: #f2f4f7; padding: 0 3px; border-radius: 3px; }
  figure { margin: 10px 0 18px; } figure img { width: 100%; height: auto; border: 1px solid var(--line); }
  figcaption { color: #475467; font-size: 13px; margin-top: 2px; }
  nav { font-size: 14px; margin: 8px 0; } nav a { margin-right: 12px; white-space: nowrap; }
  details { margin: 8px 0; } summary { cursor: pointer; font-weight: bold; }
  .bad { color: var(--fail); font-weight: bold; }
  .notes { border-left: 4px solid var(--warn); padding: 2px 10px; margin: 8px 0; font-size: 14px; }
  .notes ul { margin: 2px 0; }
  footer { margin-top: 40px; color: #667085; font-size: 13px; border-top: 1px solid var(--line); padding-top: 8px; }
</style>
</head>
<body>
<h1>Load test report <small>{{ head.run_id }}</small></h1>
<div class="verdict v-{{ head.verdict }}" role="status">
  <div class="word">{{ verdict_symbol }} {{ head.verdict_text }}</div>
  {% if head.reasons %}<ul>{% for reason in head.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>{% endif %}
</div>
{% if notes %}<div class="notes"><b>Notes from the analysis:</b><ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul></div>{% endif %}
<div class="chips">Targets: {% for label, n in head.status_counts %}<span>{{ label }}: {{ n }}</span>{% endfor %}</div>
<nav>Sections:
  <a href="#targets">Targets</a><a href="#stages">Stages</a><a href="#time">Over time</a>
  <a href="#per-stage">Per stage</a><a href="#journeys">Journeys</a><a href="#omission">Coordinated omission</a>
  <a href="#generator">Generator self-check</a>{% if memory or memory_chart %}<a href="#memory">Memory</a>{% endif %}
  {% if cpu or links %}<a href="#profiles">Profiles</a>{% endif %}{% if faults %}<a href="#faults">Faults</a>{% endif %}
  {% if recon %}<a href="#reconciliation">Reconciliation</a>{% endif %}<a href="#run">About this run</a>
</nav>

<h2 id="targets">Targets</h2>
<p class="note">Pass: the whole 95% interval is on the good side of the threshold. Fail: the whole interval is on the
bad side. Warn: the interval straddles the threshold (too little data to tell). Unknown: not measured in this run.
Error: the target's scope matches nothing in the run. Worst first.</p>
<table class="targets">
<colgroup><col style="width:112px"><col style="width:250px"><col style="width:88px"><col style="width:130px">
<col style="width:120px"><col style="width:62px"><col></colgroup>
<thead><tr><th>status</th><th>target</th><th>measured</th><th>95% interval</th><th>threshold</th>
<th>n</th><th>explanation and source</th></tr></thead>
<tbody>
{% for t in targets %}<tr class="st-{{ t.status }}"><td class="status">{{ t.status_label }}</td>
<td><b>{{ t.id }}</b>{% if t.expression %}<br><code>{{ t.expression }}</code>{% endif %}
{% if t.warn_expression %}<br><span class="small">warn level: <code>{{ t.warn_expression }}</code></span>{% endif %}
{% if t.scope %}<br><span class="small">scope: {{ t.scope }}</span>{% endif %}</td>
<td class="num"><b>{{ t.measured }}</b></td><td class="num">{{ t.interval }}</td>
<td class="num">{{ t.threshold }}</td><td class="num">{{ t.n }}</td>
<td class="explain">{{ t.explanation }}{% if t.description %}<span class="small">what: {{ t.description }}</span>{% endif %}
{% if t.source %}<span class="small">source: {{ t.source }}</span>{% endif %}</td></tr>
{% else %}<tr><td colspan="7">No targets in results.json.</td></tr>{% endfor %}
</tbody></table>

<h2 id="stages">Stages</h2>
<p class="note">Figures exclude each stage's ramp. Availability: {{ availability_definition }}.</p>
<table>
<thead><tr><th>stage</th><th>journeys/s intended</th><th>achieved</th><th>dropped arrivals</th><th>requests (all)</th>
<th>failures (all)</th><th>availability, all requests <span class="ci">95% interval</span></th><th>API P50</th>
<th>API P95 <span class="ci">95% interval</span></th><th>API P99</th><th>API mean</th></tr></thead>
<tbody>{% for s in stages %}<tr><td class="nowrap"><b>{{ s.name }}</b><span class="ci">×{{ s.load_factor }}, {{ s.duration }}</span></td>
<td class="num">{{ s.intended }}</td><td class="num">{{ s.achieved }}</td>
<td class="num">{{ s.dropped }}</td><td class="num">{{ s.requests.count }}</td><td class="num">{{ s.requests.failures }}</td>
<td class="num">{{ s.requests.availability }}<span class="ci">{{ s.requests.availability_ci }}</span></td>
<td class="num">{{ s.api.p50 }}</td><td class="num">{{ s.api.p95 }}<span class="ci">{{ s.api.p95_ci }}</span></td>
<td class="num">{{ s.api.p99 }}</td><td class="num">{{ s.api.mean }}</td></tr>{% endfor %}</tbody></table>
<table>
<thead><tr><th>stage</th><th>errors by kind (requests, ramp excluded)</th></tr></thead>
<tbody>{% for s in stages %}<tr><td><b>{{ s.name }}</b></td><td>{{ s.requests.errors }}</td></tr>{% endfor %}</tbody></table>
{% if degradation %}<h3>Degradation between stages (ΔP95 with a block-bootstrap 95% interval)</h3>
<table><thead><tr><th>from</th><th>to</th><th>scope</th><th>ΔP95</th><th>95% interval</th><th>n</th></tr></thead>
<tbody>{% for d in degradation if not d.endpoint %}<tr><td>{{ d.from }}</td><td>{{ d.to }}</td><td>{{ d.scope }}</td>
<td class="num"><b>{{ d.delta }}</b></td><td class="num">{{ d.interval }}</td><td class="num">{{ d.n }}</td></tr>{% endfor %}</tbody></table>
{% set per_endpoint = degradation|selectattr("endpoint")|list %}{% if per_endpoint %}
<details><summary>Per endpoint ({{ per_endpoint|length }})</summary>
<table><thead><tr><th>endpoint</th><th>from</th><th>to</th><th>ΔP95</th><th>95% interval</th><th>n</th></tr></thead>
<tbody>{% for d in per_endpoint %}<tr><td><code>{{ d.endpoint }}</code></td><td>{{ d.from }}</td><td>{{ d.to }}</td>
<td class="num">{{ d.delta }}</td><td class="num">{{ d.interval }}</td><td class="num">{{ d.n }}</td></tr>{% endfor %}</tbody></table>
</details>{% endif %}{% endif %}

<h2 id="time">Over time</h2>
<p class="note">Vertical lines mark stage starts; hatched grey bands are ramps{% if has_faults %}; red cross-hatched
bands are faults{% endif %}. Windows are 5 s wide.</p>
{% for name, caption in time_charts %}<figure><img alt="{{ caption }}" src="data:image/png;base64,{{ images[name] }}">
<figcaption>{{ caption }}</figcaption></figure>{% endfor %}

<h2 id="per-stage">Per stage</h2>
{% for name, caption in stage_charts %}<figure><img alt="{{ caption }}" src="data:image/png;base64,{{ images[name] }}">
<figcaption>{{ caption }}</figcaption></figure>{% endfor %}

<h2 id="journeys">Journeys and funnel</h2>
{% if 'funnel.png' in images %}<figure><img alt="funnel: visits, cart, checkout, paid" src="data:image/png;base64,{{ images['funnel.png'] }}">
<figcaption>Visitors reaching each step, all stages (ramps included).</figcaption></figure>{% endif %}
<h3>Outcomes and flags (all stages)</h3>
<table><thead><tr><th>journey</th><th>count</th><th>outcomes</th><th>flags</th></tr></thead>
<tbody>{% for o in outcomes %}<tr><td><b>{{ o.name }}</b></td><td class="num">{{ o.count }}</td>
<td>{% for k, v in o.outcomes.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td>{% for k, v in o.flags.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% else %}—{% endfor %}</td></tr>
{% endfor %}</tbody></table>
<h3>Business figures per stage (ramps excluded)</h3>
<table><thead><tr><th>figure</th>{% for s in stages %}<th>{{ s.name }}</th>{% endfor %}</tr></thead>
<tbody>{% for label in business_labels %}<tr><td>{{ label }}</td>{% for s in stages %}<td class="num">{{ business[s.name].get(label, "—") }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% if definitions %}<p class="note">Definitions: {% for key, text in definitions %}<b>{{ key|replace("_", " ") }}</b>: {{ text }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>{% endif %}

<h2 id="omission">Coordinated omission</h2>
<p class="note">Service time counts from when a journey actually started; "from intended" counts from when the
open-model schedule meant it to start. A gap between them means the load generator (or a queue in front of it)
delayed work, and service time alone would flatter the platform.</p>
{% if 'coordinated_omission.png' in images %}<figure><img alt="coordinated omission: service time vs from intended start" src="data:image/png;base64,{{ images['coordinated_omission.png'] }}">
<figcaption>Top: P95 per 5 s window of journeys (visits excluded), by intended start time. Bottom: how late
visits started against the schedule.</figcaption></figure>{% endif %}
{% for s in stages %}<details{% if loop.last %} open{% endif %}><summary>Stage {{ s.name }}: journeys</summary>
<table><thead><tr><th>journey</th><th>n</th><th>success</th><th>95% interval</th><th>P50</th><th>P95 service</th>
<th>P95 from intended</th><th>gap</th><th>outcomes</th></tr></thead>
<tbody>{% for j in s.journeys %}<tr><td><b>{{ j.name }}</b></td><td class="num">{{ j.count }}</td>
<td class="num">{{ j.success_rate }}</td><td class="num">{{ j.success_ci }}</td><td class="num">{{ j.p50 }}</td>
<td class="num">{{ j.p95 }}</td><td class="num">{{ j.p95_from_intended }}</td><td class="num">{{ j.omission_gap }}</td>
<td>{{ j.outcomes }}</td></tr>{% endfor %}</tbody></table></details>{% endfor %}

<h2 id="generator">Generator self-check</h2>
<p class="note">A run whose load generator could not keep up measures the generator, not the platform: it is
reported invalid. Compare intended and achieved arrivals and the generator's CPU.</p>
<table><thead><tr><th>stage</th><th>journeys/s intended</th><th>achieved</th><th>dropped arrivals</th>
<th>generator CPU</th><th>generator-bound?</th></tr></thead>
<tbody>{% for s in stages %}<tr><td><b>{{ s.name }}</b></td><td class="num">{{ s.intended }}</td><td class="num">{{ s.achieved }}</td>
<td class="num">{{ s.dropped }}</td><td>{{ s.generator_cpu }}</td>
<td>{% if s.generator_bound %}<span class="bad">✘ YES: results of this stage are not valid</span>{% else %}✔ no{% endif %}</td></tr>{% endfor %}</tbody></table>

{% if memory or memory_chart %}<h2 id="memory">Memory</h2>
{% if memory_chart %}<figure><img alt="memory" src="data:image/png;base64,{{ images['memory.png'] }}">
<figcaption>Platform memory per role, summed over processes, 1 s samples.{% if memory %} The dashed red line is the
fitted growth over the steady part (after warm-up).{% endif %}</figcaption></figure>{% endif %}
{% if memory %}<table class="facts">{% for k, v in memory.facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{% if memory.stages %}<h3>Growth per stage</h3>
<table><thead><tr><th>stage</th><th>growth</th><th>95% interval</th><th>length</th><th>plateau</th></tr></thead>
<tbody>{% for st in memory.stages %}<tr><td><b>{{ st.stage }}</b></td><td class="num">{{ st.growth }}</td><td class="num">{{ st.interval }}</td>
<td class="num">{{ st.duration }}</td><td>{{ st.plateau }}</td></tr>{% endfor %}</tbody></table>{% endif %}
<h3>Leak sites (memray)</h3>
{% if memory.flamegraph %}<p><a href="{{ memory.flamegraph }}">memray flame graph of what is still allocated (HTML)</a></p>{% endif %}
{% if memory.sites %}<table><thead><tr><th>function</th><th>file:line</th><th>bytes still live</th><th>growth</th></tr></thead>
<tbody>{% for site in memory.sites %}<tr><td><code>{{ site.function }}</code></td><td><code>{{ site.where }}</code></td>
<td class="num">{{ site.live }}</td><td class="num">{{ site.growth }}</td></tr>{% endfor %}</tbody></table>
{% else %}<p class="note">No leak sites: the run was not captured with memray (<code>--memray</code>), or no site kept growing.</p>{% endif %}{% endif %}
{% if memory and memory.memray_cost %}<h3>What memray cost the platform in this run</h3>
<table><thead><tr><th>stretch of the steady part</th><th>length</th><th>requests/s</th><th>platform CPU per request</th><th>CPU per request vs before the windows</th></tr></thead>
<tbody>{% for row in memory.memray_cost %}<tr><td>{{ row.segment }}</td><td class="num">{{ row.duration }}</td><td class="num">{{ row.requests_per_s }}</td>
<td class="num">{{ row.cpu }}</td><td class="num">{{ row.versus }}</td></tr>{% endfor %}</tbody></table>
<p class="note">memray is attached only inside the windows; before the first one the platform has never seen it, so that stretch is this run's own reference. Between the windows memray is detached: CPU per request there is what the rest of the run's figures were measured under.</p>{% endif %}
{% endif %}

{% if cpu or links %}<h2 id="profiles">Profiles</h2>
{% if links %}<ul>{% for link in links %}<li><a href="{{ link.href }}">{{ link.label }}</a> — {{ link.kind }}</li>{% endfor %}</ul>
<p class="note">Links point into this run directory's profiles/ folder; open the report from inside the run directory.</p>{% endif %}
{% if cpu %}<h3>CPU profile{% if cpu.stage %} of stage {{ cpu.stage }}{% endif %} (py-spy): top functions by own time</h3>
{% if cpu.error %}<p class="bad">✘ {{ cpu.error }}</p>{% endif %}
{% if cpu.rows %}<table><thead><tr><th>function</th><th>file:line</th><th>share of samples</th><th>samples</th></tr></thead>
<tbody>{% for f in cpu.rows %}<tr><td><code>{{ f.function }}</code></td><td><code>{{ f.where }}</code></td>
<td class="num">{{ f.share }}</td><td class="num">{{ f.samples }}</td></tr>{% endfor %}</tbody></table>{% endif %}
{% if cpu.facts %}<p class="note">{% for k, v in cpu.facts %}{{ k }}: {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}{% endif %}
{% endif %}

{% if faults %}<h2 id="faults">Faults</h2>
<p class="note">Each scheduled fault and its measured effect; the faults are also marked on the time charts.
Availability here is over the requests the fault can touch (its scope), per window.</p>
<table><thead><tr><th>fault</th><th>what</th><th>when</th><th>availability before</th><th>during</th><th>after</th>
<th>time to recover</th><th>errors by kind</th></tr></thead>
<tbody>{% for f in faults %}<tr><td><b>{{ f.label }}</b><span class="ci">{{ f.target }}{% if f.scope %} · {{ f.scope }}{% endif %}</span></td>
<td><code>{{ f.what }}</code>{% if f.apply_errors %}<span class="ci bad">could not apply: {{ f.apply_errors }}</span>{% endif %}</td>
<td class="nowrap">{{ f.when }}</td><td class="num">{{ f.before }}</td><td class="num">{{ f.during }}</td><td class="num">{{ f.after }}</td>
<td>{{ f.recovery }}{% if f.recovery_rule %}<span class="ci">{{ f.recovery_rule }}</span>{% endif %}</td><td>{{ f.errors }}</td></tr>{% endfor %}</tbody></table>{% endif %}

{% if recon %}<h2 id="reconciliation">Reconciliation</h2>
<table class="facts">{% for k, v in recon.counts %}<tr><th>{{ k }}</th><td class="num">{{ v }}</td></tr>{% endfor %}</table>
{% if recon.error %}<p class="bad">✘ Reconciliation incomplete: {{ recon.error }}</p>{% endif %}
{% if recon.rows %}<h3 class="bad">✘ Discrepancies ({{ recon.rows|length }})</h3>
<table><thead><tr>{% for c in recon.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in recon.rows %}<tr class="st-fail">{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% elif recon.clean %}<p>✔ No discrepancies: every payment the gateway settled matches exactly one paid order.</p>{% endif %}{% endif %}

{% if generators[0] or generators[1] %}<h2 id="generators">Load generators</h2>
<p class="note">Workers of the distributed run (docs/distributed.md): clock offset to the master (measured at
the join; records are shifted onto the master's clock), lost mid-run or not, requests each sent and merged here.</p>
<table><thead><tr><th>worker</th><th>name</th><th>address</th><th>clock offset</th><th>state</th><th>sent</th><th>merged</th></tr></thead>
<tbody>{% for g in generators[0] %}<tr class="{{ 'st-fail' if g.clock_bad or g.state == 'lost' or g.sent != g.merged else '' }}">
<td>{{ g.worker }}</td><td>{{ g.name }}</td><td>{{ g.host }}</td><td class="num">{{ g.clock }}</td><td>{{ g.state }}</td>
<td class="num">{{ g.sent }}</td><td class="num">{{ g.merged }}</td></tr>{% endfor %}</tbody></table>
{% for r in generators[1] %}<p class="bad">✘ {{ r }}</p>{% endfor %}{% endif %}

<h2 id="run">About this run</h2>
<table class="facts">{% for k, v in head.facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{% for s in stages %}<details><summary>Stage {{ s.name }}: every endpoint ({{ s.endpoints|length }})</summary>
<table><thead><tr><th>endpoint</th><th>n</th><th>failures</th><th>availability</th><th>95% interval</th><th>P50</th>
<th>P95</th><th>P95 interval</th><th>P99</th><th>max</th></tr></thead>
<tbody>{% for e in s.endpoints %}<tr><td><code>{{ e.name }}</code></td><td class="num">{{ e.count }}</td>
<td class="num">{{ e.failures }}</td><td class="num">{{ e.availability }}</td><td class="num">{{ e.availability_ci }}</td>
<td class="num">{{ e.p50 }}</td><td class="num">{{ e.p95 }}</td><td class="num">{{ e.p95_ci }}</td><td class="num">{{ e.p99 }}</td>
<td class="num">{{ e.max }}</td></tr>{% endfor %}</tbody></table></details>{% endfor %}
<footer>Generated {{ generated_at }} by harness {{ harness_version }} from the run directory alone;
re-render with <code>harness report {{ run_dir_name }}</code>.</footer>
</body>
</html>
"""
