"""Each scheduled fault's measured effect, from the run directory alone (events.jsonl's ``fault``
events and requests.csv): the windows harness.execute.fault_schedule recorded, judged by
harness.core.recovery."""

from __future__ import annotations

from pathlib import Path


def _fault_windows(events: list[dict]) -> list[dict]:
    """Group ``fault`` events by ``fault_index`` into windows: start (first "on"), end (first "off")."""
    windows: dict[int, dict] = {}
    for event in events:
        if event.get("kind") != "fault" or "fault_index" not in event:
            continue
        window = windows.setdefault(int(event["fault_index"]), {
            "index": int(event["fault_index"]), "label": event.get("label", ""), "target": event.get("target"),
            "start_t_s": None, "end_t_s": None, "knobs": {}, "action": None, "errors": []})
        t_s = float(event["t_s"])
        if event.get("ok") is False:
            window["errors"].append(str(event.get("error", "")))
        if event.get("phase", "on") == "on":
            window["start_t_s"] = t_s if window["start_t_s"] is None else min(window["start_t_s"], t_s)
            if event.get("knob") == "action":
                window["action"] = event.get("value")
            elif event.get("knob") != "error":
                window["knobs"][event["knob"]] = event.get("value")
        elif window["end_t_s"] is None:
            window["end_t_s"] = t_s
    return [w for _, w in sorted(windows.items()) if w["start_t_s"] is not None]


def _second_counts(run_dir: Path, targets: set[str], chunk_rows: int | None) -> dict[str, dict]:
    """Per fault target, per whole second of ``t_s``: [ok requests, failed, Counter of error kinds]."""
    from collections import Counter

    import pandas as pd  # deferred: pandas is heavy, and only needed when the run had faults

    from harness.rundir import read

    options = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
    counts: dict[str, dict] = {target: {} for target in targets}
    for chunk in read.iter_requests(run_dir, columns=["t_s", "name", "ok", "error_kind"], **options):
        names = chunk["name"].astype(object).fillna("").astype(str)
        rows = pd.DataFrame({
            "second": chunk["t_s"].floordiv(1).astype(int).to_numpy(), "ok": chunk["ok"].astype(int).to_numpy(),
            "kind": chunk["error_kind"].astype(object).fillna("unknown").replace("", "unknown").to_numpy()})
        for target, by_second in counts.items():
            scoped = rows[_in_scope(names, target).to_numpy()]
            totals = scoped.groupby("second")["ok"].agg(["sum", "size"])
            for sec, good, size in zip(totals.index.tolist(), totals["sum"].tolist(), totals["size"].tolist(),
                                       strict=True):
                entry = by_second.setdefault(sec, [0, 0, Counter()])
                entry[0] += good
                entry[1] += size - good
            failed = scoped[scoped["ok"] == 0].groupby(["second", "kind"]).size()
            for (sec, kind), n in failed.items():
                by_second[int(sec)][2][str(kind)] += int(n)
    return counts


def _in_scope(names, target: str):
    is_gateway = names.str.contains("/gateway/", regex=False)
    if target == "gateway":
        return is_gateway
    if target == "shop":
        return ~is_gateway
    return names == names  # process faults: every request


def faults_results(run_dir: Path, availability_target: float = 0.99, hold_s: int = 5,
                   chunk_rows: int | None = None) -> list[dict]:
    """Each scheduled fault's effect, from ``events.jsonl`` and ``requests.csv`` of ``run_dir``.

    Scope: gateway faults are judged on requests to ``/gateway/``, shop faults on the others,
    process faults on all. ``availability_target`` (fraction) and ``hold_s`` (seconds) define
    recovery (harness.core.recovery). A fault never switched off is judged up to the data's
    end; "before" starts where the previous fault started, "after" ends where the next one
    starts. [] when the run had no faults. requests.csv is read in chunks of ``chunk_rows`` rows
    (default: the reader's) and reduced to counts per second.
    """
    from harness.core.recovery import SecondCounts, fault_effect
    from harness.rundir import read  # deferred: pandas is heavy, and only needed here

    run_dir = Path(run_dir)
    windows = _fault_windows(read.read_events(run_dir))
    if not windows:
        return []
    counts = _second_counts(run_dir, {w["target"] or "process" for w in windows}, chunk_rows)
    results = []
    for window in windows:
        per_second = [SecondCounts(second, ok, failed, dict(kinds.most_common()))
                      for second, (ok, failed, kinds) in sorted(counts[window["target"] or "process"].items())]
        start = window["start_t_s"]
        if window["action"] is not None:
            end = start
        elif window["end_t_s"] is not None:
            end = window["end_t_s"]
        else:  # still on at the end of the run
            end = max(start, max((s.second_t_s + 1 for s in per_second), default=start))
        since = max((w["start_t_s"] for w in windows if w["start_t_s"] < start), default=None)
        until = min((w["start_t_s"] for w in windows if w["start_t_s"] > start), default=None)
        effect = fault_effect(per_second, start, end, availability_target, hold_s, since_t_s=since, until_t_s=until)
        results.append({
            "index": window["index"], "label": window["label"], "target": window["target"],
            "action": window["action"], "knobs": window["knobs"],
            "scope": {"gateway": "gateway requests", "shop": "shop requests"}.get(window["target"], "all requests"),
            "switched_off": window["end_t_s"] is not None or window["action"] is not None,
            "apply_errors": window["errors"], **effect,
        })
    return results
