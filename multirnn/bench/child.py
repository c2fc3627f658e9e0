"""`python -m multirnn.bench.child SPEC OUT`: one system's timings or peak memory, in a process of its own.

The parent sets KERAS_BACKEND and the thread variables; SPEC names the system, the problems
file (.npz) and the task; the rows are written to OUT as JSON.
"""
import json
import sys


def main(argv=None) -> int:
    spec_path, out_path = sys.argv[1:] if argv is None else argv
    with open(spec_path) as f:
        spec = json.load(f)
    from multirnn.bench import measure, runs
    from multirnn.bench.systems import SYSTEMS
    from multirnn.bench.workloads import load_problems
    system = SYSTEMS[spec["system"]]
    measure.configure_threads(spec["threads"], system.frameworks)
    limits = measure.limit_blas(spec["threads"])  # noqa: F841  (kept alive for the whole run)
    problems = load_problems(spec["problems"], spec["keys"])
    rows = []
    for key in spec["keys"]:
        if spec["task"] == "memory":
            rows.append(runs.memory_of_system(system, problems[key]))
        else:
            rows += runs.time_systems([system], problems[key], spec["warmup"], spec["repeat"])
    with open(out_path, "w") as f:
        json.dump(rows, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
