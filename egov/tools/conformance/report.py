"""What a run leaves behind: JUnit XML (one test case per check, for any CI), a self-contained HTML report
(each check with its verdict, reason, references and, for a failure, the transcript of the records
exchanged), one JSON-lines transcript per failed check, and the summary line on the terminal.

The HTML is rendered with Jinja2 and autoescaping: every text a vendor's system wrote (keys, headers,
bodies) is shown as text, never as markup. It holds its styles inline and loads nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from jinja2 import Environment, select_autoescape

from egov.contracts.validation import natural_json
from egov.tools.conformance.checks import Verdict, transcript_entry, write_transcript
from egov.tools.conformance.runner import RunResult

JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"
TRANSCRIPTS_DIR = "transcripts"


def summary_line(result: RunResult) -> str:
    total, failed = len(result.verdicts), len(result.failed)
    state = "PASSED" if result.passed else "FAILED"
    line = (
        f"conformance {result.role.id} ({result.agency.code}): {state}, {total - failed} of {total} checks "
        f"passed in {result.seconds:.1f} s"
    )
    if failed:
        line += "; failed: " + ", ".join(v.id for v in result.failed)
    return line


def junit_xml(result: RunResult) -> bytes:
    suite_name = f"conformance.{result.role.id}"
    suites = ET.Element("testsuites", name="egov conformance", tests=str(len(result.verdicts)))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(result.verdicts)),
        failures=str(len(result.failed)),
        errors="0",
        skipped="0",
        time=f"{result.seconds:.3f}",
        timestamp=result.started_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("role", result.role.id),
        ("agency_code", result.agency.code),
        ("kafka", result.settings.kafka_bootstrap_servers),
        ("topic_prefix", result.settings.topic_prefix),
        ("clock_speed", f"{result.settings.clock_speed:g}"),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for v in result.verdicts:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name=v.id, time=f"{v.seconds:.3f}")
        case_properties = ET.SubElement(case, "properties")
        ET.SubElement(case_properties, "property", name="title", value=v.title)
        for reference in v.references:
            ET.SubElement(case_properties, "property", name="reference", value=reference)
        if v.passed:
            ET.SubElement(case, "system-out").text = v.reason
        else:
            failure = ET.SubElement(case, "failure", message=v.reason, type="ConformanceFailure")
            failure.text = "\n".join(v.findings)
            ET.SubElement(case, "system-out").text = "\n".join(
                json.dumps(transcript_entry(r, natural_json), ensure_ascii=False) for r in v.records
            )
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Conformance: {{ result.role.id }} ({{ result.agency.code }})</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; color: #1d232a; }
  h1 { font-size: 1.5em; } .meta { color: #555; }
  .summary { font-size: 1.1em; padding: .6em 1em; border-radius: .3em; }
  .ok { background: #e3f4e6; } .ko { background: #fbe4e4; }
  table.checks { border-collapse: collapse; width: 100%; }
  table.checks td, table.checks th {
    border-bottom: 1px solid #ddd; padding: .4em; vertical-align: top; text-align: left;
  }
  .badge { font-weight: bold; padding: .1em .5em; border-radius: .3em; }
  .pass { background: #2e7d32; color: white; } .fail { background: #c62828; color: white; }
  .ref { color: #555; font-size: .9em; } code, pre { font-family: ui-monospace, monospace; font-size: .85em; }
  pre { background: #f6f8fa; padding: .5em; overflow-x: auto; white-space: pre-wrap; }
  details { margin: .3em 0; } .sent { border-left: 4px solid #1565c0; padding-left: .5em; }
  .received { border-left: 4px solid #6a1b9a; padding-left: .5em; }
</style>
</head>
<body>
<h1>Conformance of the role <code>{{ result.role.id }}</code>: {{ result.role.name_en }}</h1>
<p class="meta">Agency {{ result.agency.code }} ({{ result.agency.name }})
 · broker {{ result.settings.kafka_bootstrap_servers }}
{%- if result.settings.topic_prefix %}
 · topic prefix <code>{{ result.settings.topic_prefix }}</code>
{%- endif %}
 · business clock ×{{ '%g' % result.settings.clock_speed }} · started {{ started }}
 · {{ '%.1f' % result.seconds }} s · {{ result.log_size }} records sent and read</p>
<p class="summary {{ 'ok' if result.passed else 'ko' }}">{{ summary }}</p>
{% if result.unreadable %}
<p class="meta">Not readable by the kit's principal: {{ result.unreadable | join(', ') }}.</p>
{% endif %}
<table class="checks">
<tr><th>Check</th><th>Verdict</th><th>Why</th></tr>
{% for v in result.verdicts %}
<tr id="{{ v.id }}">
<td><code>{{ v.id }}</code><br>{{ v.title }}
<div class="ref">{% for r in v.references %}{{ r }}<br>{% endfor %}</div></td>
<td><span class="badge {{ 'pass' if v.passed else 'fail' }}">{{ 'PASS' if v.passed else 'FAIL' }}</span></td>
<td>{{ v.reason }}
{% if v.findings %}<ul>{% for f in v.findings %}<li><code>{{ f }}</code></li>{% endfor %}</ul>{% endif %}
{% if not v.passed %}
<details open><summary>Transcript: {{ v.records | length }} record(s) exchanged</summary>
{% for r in transcripts[v.id] %}
<div class="{{ r.direction }}"><strong>{{ r.direction }}</strong> {{ r.business_time }}
 · <code>{{ r.topic }}[{{ r.partition }}]@{{ r.offset }}</code> key <code>{{ r.key }}</code>
{% if r.note %}· <em>{{ r.note }}</em>{% endif %}
<pre>headers {{ r.headers | tojson(indent=1) }}
{% if r.body is not none %}{{ r.type }} (fingerprint {{ r.fingerprint }})
{{ r.body | tojson(indent=1) }}{% else %}undecodable: {{ r.problem }}{% endif %}</pre></div>
{% endfor %}
</details>
{% endif %}
</td>
</tr>
{% endfor %}
</table>
</body>
</html>
"""


def html_report(result: RunResult) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    transcripts = {
        v.id: [transcript_entry(r, natural_json) for r in v.records] for v in result.verdicts if not v.passed
    }
    return env.from_string(_TEMPLATE).render(
        result=result,
        summary=summary_line(result),
        transcripts=transcripts,
        started=result.started_at.isoformat(timespec="seconds"),
    )


def write_report(result: RunResult, directory: Path) -> list[Path]:
    """The JUnit XML, the HTML report and the failed checks' transcripts in `directory`; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    junit = directory / JUNIT_FILE
    junit.write_bytes(junit_xml(result))
    html = directory / HTML_FILE
    html.write_text(html_report(result), encoding="utf-8")
    written = [junit, html]
    transcripts = directory / TRANSCRIPTS_DIR
    failed: list[Verdict] = result.failed
    if failed:
        transcripts.mkdir(exist_ok=True)
        for v in failed:
            path = transcripts / f"{v.id}.jsonl"
            write_transcript(path, v.records)
            written.append(path)
    return written
