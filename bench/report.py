"""bench/RESULTS.md from the harness's results (the JSON beside it in bench/.work/ has every run)."""

import statistics
from pathlib import Path

FINDINGS = Path(__file__).resolve().parent / "findings.md"

TITLES = {
    "track": "`POST /api/cart-tracking/track`",
    "track_bulk": "`POST /api/cart-tracking/track/bulk`",
    "cart_sync": "`POST /cart/sync`",
    "sweep": "abandonment sweep (`notifications.services.sweep_run`)",
    "admin_changelist": "admin carts changelist `/admin/carts/cart/`",
    "abandoned_report": "abandoned report `/admin/carts/abandoned-report/`",
    "analytics": "`GET /api/cart-tracking/analytics` (30 days, one store)",
    "carts_active": "`GET /api/carts/active`",
    "config": "production server configuration",
}
ORDER = list(TITLES)


def spread(values, digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def median_of(runs, key):
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def verdict(ok) -> str:
    return "n/a" if ok is None else ("pass" if ok else "**FAIL**")


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(value, digits=2, suffix="") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def _http_rows(result: dict, unit_key: str = "req_per_s"):
    project, ceiling = result["runs"].get("project", []), result["runs"].get("ceiling", [])
    return project, ceiling, median_of(project, unit_key), median_of(ceiling, unit_key)


def headline(name: str, result: dict | None) -> tuple[str, str, str, str, str]:
    """(project, ceiling/target basis, ratio, target, verdict) for one benchmark."""
    if result is None:
        return ("not run", "—", "—", "—", "n/a")
    if name in ("track", "cart_sync"):
        if not result.get("available", {}).get("project"):
            return ("not available", _ceiling_text(result), "—", _target(name), "n/a")
        project, ceiling, p, c = _http_rows(result)
        p99_ratio = ratio(median_of(project, "p99_ms"), median_of(ceiling, "p99_ms"))
        errors = sum(run["non_2xx"] + run["socket_errors"] for run in project)
        if name == "track":
            committed = all(run.get("every_2xx_committed") for run in project)
            ok = ratio(p, c) is not None and ratio(p, c) >= 0.75 and p99_ratio is not None and p99_ratio <= 2
            ok = ok and errors == 0 and committed
            extra = f"p99 × {fmt(p99_ratio)}; errors {errors}; every 200 committed: {'yes' if committed else 'NO'}"
        else:
            duplicates = max((run.get("duplicate_open_carts", 0) for run in project), default=0)
            committed = all(run.get("every_201_committed") for run in project)
            ok = ratio(p, c) is not None and ratio(p, c) >= 0.75 and duplicates == 0 and errors == 0
            extra = (
                f"p99 × {fmt(p99_ratio)}; errors {errors}; duplicate open carts {duplicates}; "
                f"every 201 a cart: {'yes' if committed else 'NO'}"
            )
        return (
            f"{fmt(p, 0)} req/s",
            f"{fmt(c, 0)} req/s",
            f"**{fmt(ratio(p, c))}** ({extra})",
            _target(name),
            verdict(ok),
        )
    if name == "track_bulk":
        copy = median_of(result.get("copy", {}).get("runs", []), "rows_per_s")
        if not result.get("available", {}).get("project"):
            return ("not available", f"COPY {fmt(copy, 0)} rows/s", "—", _target(name), "n/a")
        project = result["runs"]["project"]
        p = median_of(project, "rows_per_s")
        errors = sum(run["non_2xx"] + run["socket_errors"] for run in project)
        ok = ratio(p, copy) is not None and ratio(p, copy) >= 0.6
        return (
            f"{fmt(p, 0)} rows/s",
            f"COPY {fmt(copy, 0)} rows/s",
            f"**{fmt(ratio(p, copy))}** (errors {errors})",
            _target(name),
            verdict(ok),
        )
    if name == "sweep":
        large = result.get("large", {}).get("runs", [])
        small = result.get("small", {}).get("runs", [])
        if not large or not large[0].get("available"):
            reason = (large or small or [{}])[0].get("reason", "not run")
            return ("not available", "—", "—", _target(name), f"n/a ({reason})")
        rate = median_of(large, "claimed_per_s")
        rss_large, rss_small = median_of(large, "peak_rss_mb"), median_of(small, "peak_rss_mb")
        memory_ratio = ratio(rss_large, rss_small)
        q_large, q_small = median_of(large, "queries_per_batch"), median_of(small, "queries_per_batch")
        ok = rate is not None and rate >= 20_000 and memory_ratio is not None and abs(memory_ratio - 1) <= 0.10
        return (
            f"{fmt(rate, 0)} carts claimed/s ({fmt(median_of(large, 'processed_per_s'), 0)} scanned/s)",
            "20,000 carts/s",
            f"**{fmt(ratio(rate, 20_000))}**; peak RSS {fmt(rss_small, 1)} → {fmt(rss_large, 1)} MB "
            f"(× {fmt(memory_ratio)}); queries per batch {fmt(q_small, 1)} → {fmt(q_large, 1)}",
            _target(name),
            verdict(ok),
        )
    if name in ("admin_changelist", "abandoned_report", "analytics", "carts_active"):
        if not result.get("available"):
            return ("not available", "—", "—", _target(name), f"n/a ({_cell(result.get('reason', ''))})")
        limit = {"admin_changelist": 300, "abandoned_report": 1000, "analytics": 1000, "carts_active": 100}[name]
        median = result["median_ms"]
        measured = f"{median:,.1f} ms ({result['min_ms']:,.1f}–{result['max_ms']:,.1f}), {result['queries']} queries"
        scaled = result.get("scaled")
        if scaled:
            # Built smaller than asked: the aggregates read the rows of one store's window, which
            # grow linearly with the table, so the time is extrapolated linearly (an upper bound
            # for the fixed costs, a fair one for the scans).
            median = median * scaled["wanted"] / scaled["built"]
            measured += f" on {scaled['built']:,} events; extrapolated to {scaled['wanted']:,}: {median:,.0f} ms"
        return (measured, f"{limit} ms", fmt(median / limit), _target(name), verdict(median < limit))
    if name == "config":
        rows = [row for row in result.get("runs", []) if row.get("available") and _config_runs(row)]
        if not rows:
            return ("not available", "—", "—", _target(name), "n/a")
        best = max(rows, key=lambda row: median_of(_config_runs(row), "req_per_s"))
        return (
            f"gunicorn.conf.py default at the run: {_config_text(result['default'])}",
            f"best measured: {_config_text(best['config'])}, {median_of(_config_runs(best), 'req_per_s'):,.0f} req/s"
            " (median)",
            "—",
            _target(name),
            "measured (the choice and why: gunicorn.conf.py)",
        )
    return ("?", "?", "?", "?", "?")


def _cell(text: str) -> str:
    """One Markdown table cell: no line breaks, no column separators."""
    return " ".join(str(text).split()).replace("|", "/")


def _queries_per_claim(runs):
    values = [run["queries"] / run["claimed_rows"] * 1000 for run in runs if run.get("claimed_rows")]
    return statistics.median(values) if values else None


def _ceiling_text(result):
    return f"{fmt(median_of(result['runs'].get('ceiling', []), 'req_per_s'), 0)} req/s"


_TARGETS: dict = {}


def _target(name):
    return _TARGETS.get(name, "")


def config_section(result: dict, profile: dict) -> list[str]:
    """The configuration comparison's table: each configuration's runs, median (min–max)."""
    out = [
        "",
        "## gunicorn configurations (`POST /api/cart-tracking/track`)",
        "",
        f"{profile['connections']} connections, {profile['config_duration']} s a run; median of the runs"
        " (min–max); the order of the configurations reversed every other round.",
        "",
        "| configuration | runs | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["runs"]:
        runs = _config_runs(row) if row.get("available") else []
        if not runs:
            out.append(f"| {_config_text(row['config'])} | 0 | not available | | | | |")
            continue
        out.append(
            f"| {_config_text(row['config'])} | {len(runs)} "
            f"| {spread([run['req_per_s'] for run in runs], 0)} "
            f"| {spread([run['p50_ms'] for run in runs], 2)} | {spread([run['p99_ms'] for run in runs], 2)} "
            f"| {sum(run['non_2xx'] for run in runs)} | {sum(run['socket_errors'] for run in runs)} |"
        )
    return out


def _config_runs(row: dict) -> list[dict]:
    """The runs of one configuration (results written before the comparison was repeated hold
    their one run's figures in the row itself)."""
    return row.get("runs", [row])


def _config_text(config: dict) -> str:
    text = f"{config['worker_class']} {config['workers']}w"
    if config["worker_class"] == "gthread":
        text += f"×{config['threads']}t"
    if config.get("pool"):
        return text + f", psycopg pool of {config['threads']} per process"
    text += f", CONN_MAX_AGE={config.get('conn_max_age', 60)}"
    return text + (", no CONN_HEALTH_CHECKS" if config.get("health_checks") is False else "")


def _statuses_total(runs) -> dict:
    """The answers' statuses over all runs, each with its count."""
    statuses: dict = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return statuses


def _http_details(name: str, result: dict, unit: str = "req/s") -> list[str]:
    lines = [
        f"{result['connections']} connections, {result['duration_s']} s per run; median of the runs "
        "(min–max); each run on an emptied table; project and ceiling alternate.",
        "",
        "| | req/s | rows/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | checks |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {
        "ceiling_round_trips": "ceiling + the product's round trips",
        "project_origin": "project, with Origin (as a browser calls it)",
    }
    for who in ("project", "ceiling", "ceiling_round_trips", "project_origin"):
        runs = result["runs"].get(who, [])
        if who in labels:
            if not runs:
                continue
            who = labels[who]
        if not runs:
            lines.append(f"| {who} | not available | | | | | | | | |")
            continue
        if name == "cart_sync":
            checks = (
                f"201 = open carts: {all(r.get('every_201_committed') for r in runs)}; "
                f"duplicates {max(r.get('duplicate_open_carts', 0) for r in runs)}"
            )
        else:
            checks = f"every 2xx committed: {all(r.get('every_2xx_committed') for r in runs)}"
        statuses = _statuses_total(runs)
        lines.append(
            f"| {who} | {spread([r['req_per_s'] for r in runs], 0)} | {spread([r.get('rows_per_s') for r in runs], 0)} "
            f"| {spread([r['p50_ms'] for r in runs], 2)} | {spread([r['p90_ms'] for r in runs], 2)} "
            f"| {spread([r['p99_ms'] for r in runs], 2)} | {spread([r['max_ms'] for r in runs], 1)} "
            f"| {sum(r['non_2xx'] for r in runs)} | {sum(r['socket_errors'] for r in runs)} "
            f"| {checks}; statuses {statuses} |"
        )
    rate = {who: median_of(result["runs"].get(who, []), "req_per_s") for who in (*labels, "project", "ceiling")}
    sentences = {
        "ceiling_round_trips": (
            "The ceiling plus the round trips the product's endpoint cannot do without (the connection's "
            "health check as the product makes it; the per-IP rate limit in Redis for track, the store's "
            "hourly count of created carts for a sync; one JSON access line; still no framework)",
            lambda value, project: f"; the project is {fmt(ratio(project, value))} × that.",
        ),
        "project_origin": (
            "The project called as a storefront page calls it, with an `Origin` header the store has "
            "configured (so the CORS check runs and the answer allows it)",
            lambda value, project: f", {fmt(ratio(value, project))} × the project without it.",
        ),
    }
    for who, (sentence, versus_project) in sentences.items():
        if rate[who] and rate["ceiling"]:
            lines += [
                "",
                f"{sentence}: {fmt(ratio(rate[who], rate['ceiling']))} × the ceiling"
                + (versus_project(rate[who], rate["project"]) if rate["project"] else "."),
            ]
    return lines + _cpu_details(result.get("cpu"), rate)


def _cpu_details(cpu: dict | None, rate: dict) -> list[str]:
    """The in-process CPU of one request in the web process (bench/cpu_probe.py), and what it
    says about the throughput ratio (`_cpu_fit`)."""
    if not cpu or not cpu["runs"].get("project"):
        return []
    labels = {"project": "project", "ceiling": "ceiling", "ceiling_round_trips": "ceiling + the product's round trips"}
    lines = [
        "",
        f"CPU of one request in the web process, measured in-process (the WSGI application called "
        f"{cpu['requests']:,} times in a loop in the environment of its gunicorn workers, after a warm-up; "
        "no load generator; the database and Redis work is in their own processes, not in this figure; "
        "median of the runs (min–max)):",
        "",
        "| | CPU ms per request | wall ms per request | × the ceiling's CPU | statuses |",
        "| --- | --- | --- | --- | --- |",
    ]
    ceiling = median_of(cpu["runs"].get("ceiling", []), "cpu_ms")
    for who, label in labels.items():
        runs = cpu["runs"].get(who, [])
        if not runs:
            continue
        statuses = _statuses_total(runs)
        lines.append(
            f"| {label} | {spread([r['cpu_ms'] for r in runs], 3)} | {spread([r['wall_ms'] for r in runs], 3)} "
            f"| {fmt(ratio(median_of(runs, 'cpu_ms'), ceiling), 1)} | {statuses} |"
        )
    cpu_ms = {who: median_of(runs, "cpu_ms") for who, runs in cpu["runs"].items()}
    return lines + _cpu_fit(cpu_ms, rate)


def _cpu_fit(cpu_ms: dict, rate: dict, target: float = 0.75) -> list[str]:
    """Time per request under load against the web process's CPU per request, as a straight line
    through the project and the ceiling (1 / req/s = fixed + slope × CPU: the fixed part is what
    the load generator, the database, Redis and the kernel spend per request, the same for
    both). The third server checks the line; the line says what CPU per request `target` × the
    ceiling's throughput would take."""
    project, ceiling = cpu_ms.get("project"), cpu_ms.get("ceiling")
    project_rate, ceiling_rate = rate.get("project"), rate.get("ceiling")
    if None in (project, ceiling, project_rate, ceiling_rate) or project <= ceiling:
        return []
    slope = (1000 / project_rate - 1000 / ceiling_rate) / (project - ceiling)
    fixed = 1000 / ceiling_rate - slope * ceiling
    if slope <= 0:
        return []
    text = (
        f"Fitted through the project and the ceiling, 1 / req/s = {fixed:.3f} ms + {slope:.3f} × the web "
        "process's CPU ms per request"
    )
    third, third_rate = cpu_ms.get("ceiling_round_trips"), rate.get("ceiling_round_trips")
    if third is not None and third_rate:
        predicted = 1000 / (fixed + slope * third)
        text += f"; it predicts the third server at {predicted:,.0f} req/s (measured {third_rate:,.0f})"
    # Below 1 × the ceiling this is always positive: the ceiling's own point lies on the line.
    needed = (1000 / (target * ceiling_rate) - fixed) / slope
    text += (
        f". {target} × the ceiling ({target * ceiling_rate:,.0f} req/s) would take {needed:.3f} ms of CPU a "
        f"request in the web process; the project spends {project:.3f}."
    )
    return ["", text]


def render(results: dict, targets: dict, only: set) -> str:
    _TARGETS.update(targets)
    machine, versions = results["machine"], results.get("versions", {})
    profile = results["profile"]
    benchmarks = results["benchmarks"]
    out = [
        "# Benchmark results",
        "",
        f"Written by `bench/run{' --smoke' if profile['name'] == 'smoke' else ''}` on {machine['date']} "
        f"at commit `{machine['commit']}` in {results.get('elapsed_s', '?')} s. "
        "Every figure comes from this one run; ratios compare the project with the ceiling measured "
        "minutes apart on the same machine. Method: docs/performance.md.",
        "",
        *[
            f"Re-run and merged in on {rerun['date']} at `{rerun['commit']}`: {', '.join(rerun['benchmarks'])}."
            for rerun in results.get("reruns", [])
        ],
        "",
        "## Machine and versions",
        "",
        f"- {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB memory, "
        f"Linux {machine['kernel']}; load average before the run "
        f"{', '.join(f'{x:.2f}' for x in machine['load_before'])}",
        f"- Python {versions.get('python')}, Django {versions.get('django')}, PostgreSQL {versions.get('postgresql')}, "
        f"Redis {versions.get('redis')}, gunicorn {versions.get('gunicorn')}, psycopg {versions.get('psycopg')}, "
        f"{versions.get('wrk')}",
        f"- PostgreSQL settings as installed (not tuned for the benchmark): {versions.get('pg_settings')}",
        "- Everything on one host: PostgreSQL, Redis, gunicorn, the load generator (wrk, 2 threads) and "
        "the harness share the cores, for the project and the ceiling alike.",
    ]
    if "celery_worker" in results:
        out.append(
            "- Celery worker: "
            + (
                "started for the HTTP benchmarks (an app queues work from a request)"
                if results["celery_worker"]
                else "not started: no app queues Celery work from a request (checked in the code at run time)"
            )
        )
    config = results.get("config_used")
    if config:
        reason = results.get("config_reason", "the defaults of gunicorn.conf.py")
        out.append(f"- HTTP benchmarks (project and ceiling) ran under gunicorn {_config_text(config)}: {reason}")
    out += [
        "",
        "## Headline: project / ceiling",
        "",
        "| benchmark | project | ceiling / limit | ratio | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    errors = results.get("errors", {})
    for name in ORDER:
        if only and name not in only:
            continue
        project, basis, ratio_text, target, outcome = headline(name, benchmarks.get(name))
        if name in errors and name not in benchmarks:
            project, outcome = f"not run (harness error: {_cell(errors[name])})", "n/a"
        out.append(f"| {TITLES[name]} | {project} | {basis} | {ratio_text} | {target} | {_cell(outcome)} |")

    for name in ("track", "track_bulk", "cart_sync"):
        if name not in benchmarks:
            continue
        result = benchmarks[name]
        out += ["", f"## {TITLES[name]}", "", *_http_details(name, result)]
        if name == "track_bulk":
            copy = result.get("copy", {})
            out += [
                "",
                f"Raw `COPY` ceiling: {copy.get('connections')} sessions, {copy.get('batch')} rows per COPY and "
                "transaction, into the same table and indexes: "
                f"{spread([r['rows_per_s'] for r in copy.get('runs', [])], 0)} rows/s. "
                "The ceiling app's bulk path is one multi-row `INSERT … SELECT FROM unnest(…)` per request.",
            ]
    if "sweep" in benchmarks:
        out += ["", f"## {TITLES['sweep']}", ""]
        out += [
            "Carts built in SQL; 10 % of them due for stage 1 (abandoned 50–70 h ago, e-mail with consent), "
            "the rest converted, removed, without contact, without consent, recent or live. `sweep_run(batch_size="
            "1000, enable_whatsapp=False)` in a fresh process per run, on emptied message tables. The sweep "
            "claims (as the hourly task runs it, `deliver=False`: delivery is queued per batch): the figure is "
            "scan + claim + the sweep's bookkeeping (frequency cap, hold-out, the store's daily message budget "
            "counted in Redis, set high enough not to bind). Delivery of the claimed messages is timed apart "
            "below, with each channel's `send()` answering success at once. Peak "
            "RSS is the process's (Django loaded: the baseline is most of it).",
            "",
            "| carts | seconds | claimed | claimed/s | scanned | scanned/s | batches | queries | queries/batch "
            "| peak RSS MB | RSS growth MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for scale in ("small", "large"):
            data = benchmarks["sweep"].get(scale)
            if not data:
                continue
            runs = [r for r in data["runs"] if r.get("available")]
            if not runs:
                reason = data["runs"][0].get("reason") if data["runs"] else ""
                out.append(f"| {data['carts']:,} | not available: {reason} | | | | | | | | | |")
                continue
            out.append(
                f"| {data['carts']:,} | {spread([r['seconds'] for r in runs], 2)} "
                f"| {spread([r['claimed_rows'] for r in runs], 0)} | {spread([r['claimed_per_s'] for r in runs], 0)} "
                f"| {spread([r.get('processed') for r in runs], 0)} "
                f"| {spread([r.get('processed_per_s') for r in runs], 0)} "
                f"| {spread([r.get('batches') for r in runs], 0)} | {spread([r['queries'] for r in runs], 0)} "
                f"| {spread([r.get('queries_per_batch') for r in runs], 1)} "
                f"| {spread([r['peak_rss_mb'] for r in runs], 1)} | {spread([r['rss_growth_mb'] for r in runs], 1)} |"
            )
        notes = [
            r["note"]
            for scale in ("small", "large")
            for r in benchmarks["sweep"].get(scale, {}).get("runs", [])
            if r.get("note")
        ]
        if notes:
            out += ["", "Note: " + "; ".join(notes) + "."]
        deliveries = [
            (data["carts"], r["delivery"])
            for scale in ("small", "large")
            if (data := benchmarks["sweep"].get(scale))
            for r in data.get("runs", [])[-1:]
            if r.get("delivery")
        ]
        for carts, delivery in deliveries:
            out += [
                "",
                f"Delivery after the sweep over {carts:,} carts (last run; `send()` answering success at once): "
                f"{fmt(delivery.get('messages'), 0)} messages in {fmt(delivery.get('seconds'), 2)} s, "
                f"{fmt(delivery.get('per_s'), 0)} messages/s.",
            ]
        send = benchmarks["sweep"].get("send")
        if send and send.get("available"):
            per_message = send["seconds"] / send["sent"] * 1000 if send.get("sent") else None
            out += [
                "",
                f"With sending (the real sweep, one batch of {send['kwargs'].get('batch_size')} scanned carts, e-mail "
                f"to Django's dummy backend): {send['sent']} messages in {send['seconds']:.2f} s, "
                f"{fmt(per_message, 1)} ms per message, {send['queries']} queries.",
            ]
    probes = [n for n in ("admin_changelist", "abandoned_report", "carts_active", "analytics") if n in benchmarks]
    if probes:
        out += [
            "",
            "## Server time of pages and reads",
            "",
            "In-process (Django test client through the whole middleware stack, production settings, a "
            "logged-in superuser or the store's secret key), after one warm-up request.",
            "",
            "| page | median ms (min–max) | queries | answer bytes |",
            "| --- | --- | --- | --- |",
        ]
        for name in probes:
            r = benchmarks[name]
            if not r.get("available"):
                out.append(f"| {TITLES[name]} | not available: {_cell(r.get('reason'))} | | |")
                continue
            out.append(f"| {TITLES[name]} | {spread(r['ms'], 1)} | {r['queries']} | {r['bytes']:,} |")
    if "config" in benchmarks:
        out += config_section(benchmarks["config"], profile)
    out += _slowest_section(benchmarks)
    data = results.get("data", {})
    if data:
        out += ["", "## Data builds", ""]
        for name, facts in data.items():
            out.append(f"- {name}: {facts}")
    if profile["name"] != "smoke" and FINDINGS.exists():
        out += ["", FINDINGS.read_text().strip()]
    return "\n".join(out) + "\n"


def _slowest_section(benchmarks: dict) -> list[str]:
    """The slowest statements of each page and of the sweep, with the plan of the slowest SELECT."""
    sources = []
    for name in ("admin_changelist", "abandoned_report", "carts_active", "analytics"):
        if benchmarks.get(name, {}).get("slowest"):
            sources.append((TITLES[name], benchmarks[name]["slowest"]))
    sweep_runs = benchmarks.get("sweep", {}).get("large", {}).get("runs", [])
    if sweep_runs and sweep_runs[-1].get("slowest"):
        sources.append(("sweep (largest dataset, last run)", sweep_runs[-1]["slowest"]))
    if not sources:
        return []
    out = [
        "",
        "## Slowest statements",
        "",
        "The three slowest SQL statements of each measured request (and of the sweep), "
        "with the plan of the slowest SELECT (`EXPLAIN (ANALYZE, BUFFERS)`, run once more afterwards).",
    ]
    for title, statements in sources:
        out += ["", f"<details><summary>{title}</summary>", ""]
        for statement in statements:
            out += [f"- {statement['ms']} ms: `{statement['sql'][:400]}`"]
            if statement.get("plan"):
                out += ["", "```", *statement["plan"], "```", ""]
        out += ["</details>"]
    return out
