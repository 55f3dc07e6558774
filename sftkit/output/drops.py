"""Why correct samples and problems went, beyond the grader: filters, contamination and
near-duplicates, read from report.json as far as it holds them (each arrives with its own issue,
so every key is optional and an unknown shape is skipped, never an error).

Usage:
    drops(report)   # {"filters": {"truncated": 3, "hedged": 1}, "contamination": {"aime.jsonl": 2},
                    #  "near-duplicates": {"clusters": 4, "problems in clusters": 9}}
    drops(report, merge_duplicates=2)["merge"]   # {"duplicates": 2}, unless rows[].merge says

report.json's rows[].merge (the merge's filters, issue 20) give "filters", "merge" (duplicates)
and "judge" (recovered); contamination and near-duplicates come from issue 21's keys.

A group is left out when report.json does not have it; the page and the card then say nothing
was measured rather than "0".
"""

from __future__ import annotations

from collections import Counter

# Where each group may live: per-row keys (summed over source x version) and top-level keys.
ROW_KEYS = {
    "filters": ("filtered", "filters", "filter_drops", "dropped_by_reason", "drops"),
    "contamination": ("contaminated", "contamination"),
}
TOP_KEYS = {
    "filters": ("filters", "filtered"),
    "contamination": ("contamination", "decontamination"),
    "near-duplicates": ("near_duplicates", "near_dups"),
}
_NESTED = ("by_reason", "by_benchmark", "per_benchmark", "counts", "by_file")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _counts(value) -> Counter:
    """Reason -> count from the shapes a report may use: {"truncated": 3}, {"by_reason": {...}},
    [{"benchmark": "aime.jsonl", "count": 2}], [{"file": ...}, ...] (one per line)."""
    out: Counter = Counter()
    if isinstance(value, dict) and isinstance(value.get("benchmarks"), list):
        return _counts(value["benchmarks"])  # issue 21: {"contaminated": 3, "benchmarks": [...]}
    if isinstance(value, dict):
        for key in _NESTED:
            if isinstance(value.get(key), dict):
                return _counts(value[key])
        out.update({str(k): v for k, v in value.items() if _is_count(v) and v})
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            name = next(
                (item[k] for k in ("benchmark", "reason", "file", "name") if k in item), None
            )
            count = next((item[k] for k in ("count", "contaminated") if _is_count(item.get(k))), 1)
            if name is not None:
                out[str(name)] += count
    return out


def _near_duplicates(value) -> Counter:
    """{"clusters": 4, "dropped": 5, ...} as it is, or a list of clusters counted."""
    if isinstance(value, list):
        members = [c.get("members") or c.get("problems") for c in value if isinstance(c, dict)]
        sizes = [len(m) for m in members if isinstance(m, list)]
        out = Counter({"clusters": len(value)})
        if sizes:
            out["problems in clusters"] = sum(sizes)
        return out
    if isinstance(value, dict):
        if isinstance(value.get("clusters"), list):
            return _near_duplicates(value["clusters"])
        # issue 21: {"clusters": 4, "problems_in_clusters": 9, "different_gold_clusters": 1,
        # "dropped": 0, "mode": "report", ...}: the counts, zeros too (measured, none found).
        named = {"clusters": "clusters", "problems_in_clusters": "problems in clusters",
                 "different_gold_clusters": "clusters with different golds",
                 "dropped": "problems dropped"}  # fmt: skip
        return Counter({label: value[k] for k, label in named.items() if _is_count(value.get(k))})
    return _counts(value)


def _merge_rows(report: dict) -> dict[str, Counter]:
    """The last merge's drops as report.json keeps them per row: {"merge": {"by_reason":
    {"truncated": 2}, "duplicates": 1, ...}} -> {"filters": {...}, "merge": {"duplicates": 1}}."""
    groups: dict[str, Counter] = {}
    for row in report.get("rows") or []:
        m = row.get("merge")
        if not isinstance(m, dict):
            continue
        groups.setdefault("filters", Counter()).update(_counts(m.get("by_reason") or {}))
        if _is_count(m.get("duplicates")):
            groups.setdefault("merge", Counter())["duplicates"] += m["duplicates"]
        if _is_count(m.get("judge_recovered")) and m["judge_recovered"]:
            groups.setdefault("judge", Counter())["recovered"] += m["judge_recovered"]
    if "merge" in groups:
        groups["merge"] = +groups["merge"]  # 0 duplicates: measured, none dropped
    return groups


def drops(report: dict, merge_duplicates: int | None = None) -> dict[str, Counter]:
    """The groups report.json holds, each reason -> count (see the module docstring)."""
    groups = _merge_rows(report)
    for group, keys in ROW_KEYS.items():
        if group in groups:
            continue  # the merge's own counts (rows[].merge) come first
        for row in report.get("rows") or []:
            for key in keys:
                if key in row:
                    found = _counts(row[key])
                    if not found and _is_count(row[key]) and row[key]:
                        found = Counter({key: row[key]})
                    if found or isinstance(row[key], (dict, list)):
                        groups.setdefault(group, Counter()).update(found)
                    break
    for group, keys in TOP_KEYS.items():
        for key in keys:
            value = report.get(key)
            if value is None or group in groups and group != "near-duplicates":
                continue
            read = _near_duplicates if group == "near-duplicates" else _counts
            groups[group] = read(value)
            break
    if merge_duplicates is not None and "merge" not in groups:
        groups["merge"] = +Counter({"duplicates": merge_duplicates})
    return groups
