"""The benchmark's derived figures (ratios, GFLOP/s, share of peak), its markdown tables and its plot."""
from typing import Dict, List, Optional, Sequence

from multirnn.bench.workloads import PASSES, Workload

PASS_TITLES = {"forward": "forward pass (`predict_on_batch`)",
               "train": "training step (`train_on_batch`: SGD, MSE on the last output)"}
OUTPUT_TOLERANCE = 1e-3  # float32 systems against the float64 reference; larger means different weights or maths


def annotate(rows: List[dict], workloads: Dict[str, Workload], peak_gflops: float) -> None:
    """Add `ratio_to_best_anchor`, `gflops` and `fraction_of_peak` to every timed row."""
    best: Dict[tuple, float] = {}
    for r in rows:
        if r.get("anchor") and "median_s" in r:
            key = (r["workload"], r["cell"], r["pass"])
            best[key] = min(best.get(key, float("inf")), r["median_s"])
    for r in rows:
        if "median_s" not in r:
            continue
        anchor_time = best.get((r["workload"], r["cell"], r["pass"]))
        r["ratio_to_best_anchor"] = r["median_s"] / anchor_time if anchor_time else None
        r["gflops"] = workloads[r["workload"]].flops(r["cell"], r["pass"]) / r["median_s"] / 1e9
        r["fraction_of_peak"] = r["gflops"] / peak_gflops


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}%" if fraction >= 0.01 else f"{100 * fraction:.2f}%"


def header(info: dict) -> List[str]:
    """The lines that say where and how the numbers were taken."""
    m, s = info["machine"], info["settings"]
    lines = ["## multirnn benchmark", "",
             f"- machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable); "
             f"{m['platform']}; Python {m['python']}; load average {m['load_average_before']} before the run, "
             f"{m['load_average_after']} after",
             f"- threads: {s['threads']} for every system ({'; '.join(s['thread_notes'] + [s['blas_note']])})",
             f"- BLAS: {'; '.join(info['blas'])}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
             f"- float32 GEMM peak: {info['gemm_peak_gflops']:.1f} GFLOP/s (NumPy matmul {s['gemm_size']}², "
             f"best of {s['gemm_repeat']} runs before and after the timings)",
             f"- each figure: median of {s['repeat']} run(s) after {s['warmup']} warm-up run(s), float32, same weights "
             "and data for every system; ×best = time / fastest anchor's time (anchors: "
             f"{', '.join(info['anchors']) or 'none'}; lower is better); % peak = FLOPs of the input and "
             "recurrent GEMMs (forward 2·B·T·(D+U)·k·U, training 3× that) / time / GEMM peak"]
    for name, reason in info["skipped"].items():
        lines.append(f"- skipped {name}: {reason}")
    return lines


def timing_table(rows: Sequence[dict], workload: Workload, pass_: str, cells: Sequence[str],
                 systems: Sequence[str]) -> List[str]:
    """One markdown table: a row per system, (ms, ×best, % peak) per cell; errors as numbered notes."""
    index = {(r["system"], r["cell"]): r for r in rows if r["workload"] == workload.name and r["pass"] == pass_}
    lines = [f"### {workload.name}: {PASS_TITLES[pass_]}, {workload.describe()}", "",
             "| system | " + " | ".join(f"{c} ms | ×best | % peak" for c in cells) + " |",
             "|---|" + "---:|---:|---:|" * len(cells)]
    notes: List[str] = []
    for system in systems:
        cells_text = []
        for cell in cells:
            r = index.get((system, cell))
            if r is None:
                cells_text += ["–"] * 3
            elif "error" in r:
                notes.append(f"{system}, {cell}: {r['error']}")
                cells_text += [f"error [{len(notes)}]", "–", "–"]
            else:
                ratio = r.get("ratio_to_best_anchor")
                cells_text += [_ms(r["median_s"]), f"{ratio:.2f}" if ratio else "–", _percent(r["fraction_of_peak"])]
        lines.append(f"| {system} | " + " | ".join(cells_text) + " |")
    lines += [""] + [f"[{i}] {text}" for i, text in enumerate(notes, 1)] + ([""] if notes else [])
    if pass_ == "forward":
        lines += _output_check(index.values())
    return lines


def _output_check(rows) -> List[str]:
    checked = [r for r in rows if "max_abs_diff" in r]
    if not checked:
        return []
    worst = max(checked, key=lambda r: r["max_abs_diff"])
    lines = [f"Outputs against the float64 NumPy reference: max |Δ| {worst['max_abs_diff']:.1e} "
             f"({worst['system']}, {worst['cell']})."]
    lines += [f"**{r['system']}, {r['cell']}: output differs from the reference by {r['max_abs_diff']:.2e}**"
              for r in checked if r["max_abs_diff"] > OUTPUT_TOLERANCE]
    return lines + [""]


def memory_table(rows: Sequence[dict], workload: Workload, cells: Sequence[str], systems: Sequence[str]) -> List[str]:
    """Peak memory of one training step per system and cell, in MiB."""
    index = {(r["system"], r["cell"]): r for r in rows if r["workload"] == workload.name}
    methods = sorted({r["method"] for r in index.values() if "method" in r})
    lines = [f"### {workload.name}: peak memory of one training step (MiB), {workload.describe()}", "",
             f"Measured in a child process per system and cell: {'; '.join(methods) or 'no measurement succeeded'}.",
             "", "| system | " + " | ".join(cells) + " |", "|---|" + "---:|" * len(cells)]
    notes: List[str] = []
    for system in systems:
        texts = []
        for cell in cells:
            r = index.get((system, cell))
            if r is None:
                texts.append("–")
            elif "error" in r:
                notes.append(f"{system}, {cell}: {r['error']}")
                texts.append(f"error [{len(notes)}]")
            else:
                texts.append(f"{r['peak_mib']:.1f}")
        lines.append(f"| {system} | " + " | ".join(texts) + " |")
    return lines + [""] + [f"[{i}] {text}" for i, text in enumerate(notes, 1)] + ([""] if notes else [])


def plot(rows: Sequence[dict], path: str, workloads: Sequence[Workload], cells: Sequence[str],
         systems: Sequence[str]) -> Optional[str]:
    """A bar chart of the ratios to the best anchor (log scale), one panel per workload and pass."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    index = {(r["workload"], r["pass"], r["system"], r["cell"]): r.get("ratio_to_best_anchor") for r in rows}
    fig, axes = plt.subplots(len(PASSES), len(workloads), figsize=(max(4.5 * len(workloads), 8), 7),
                             squeeze=False)
    width = 0.8 / max(len(systems), 1)
    for col, workload in enumerate(workloads):
        for row, pass_ in enumerate(PASSES):
            ax = axes[row][col]
            for k, system in enumerate(systems):
                values = [index.get((workload.name, pass_, system, c)) or float("nan") for c in cells]
                ax.bar([i + (k - (len(systems) - 1) / 2) * width for i in range(len(cells))], values, width,
                       label=system)
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_yscale("log")
            shown = [v for (w, p, _, _), v in index.items() if w == workload.name and p == pass_ and v]
            ax.set_ylim(bottom=min([0.5] + [v / 1.5 for v in shown]))  # the best anchor's bar (1.0) stays visible
            ax.set_xticks(range(len(cells)), cells)
            ax.set_title(f"{workload.name}, {pass_}")
            ax.set_ylabel("time / best anchor")
    handles, labels = axes[0][0].get_legend_handles_labels()
    columns = min(len(labels), 4) or 1
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize="small")
    fig.tight_layout(rect=(0, 0.035 * -(-len(labels) // columns) + 0.01, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None
