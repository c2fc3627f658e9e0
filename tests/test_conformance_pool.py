"""The conformance pool: tasks in worker processes give the results of one process, in task order."""
import json

from multirnn.conformance import cli
from multirnn.conformance.pool import run_tasks

# `list(jobs)` is a task function whose results are its jobs: the order is visible in the output
TASKS = [(list, ["a", "b"]), (list, ["c"]), (list, ["d", "e", "f"])]


def _run(workers):
    seen = []
    results = run_tasks(TASKS, workers, [], lambda done, total, result: seen.append((done, total, result)))
    return results, seen


def test_tasks_in_processes_give_one_process_results_in_task_order():
    whole, seen_whole = _run(1)
    pooled, seen_pooled = _run(2)
    assert whole == pooled == list("abcdef")
    assert [s[:2] for s in seen_whole] == [s[:2] for s in seen_pooled] == [(k, 6) for k in range(1, 7)]
    assert [s[2] for s in seen_whole] == list("abcdef") and sorted(s[2] for s in seen_pooled) == list("abcdef")


def test_a_matrix_run_in_two_workers_reports_what_one_process_reports(tmp_path, capsys):
    args = ["--quick", "--only", "rnn-last-nostate-fwd-stateful-*", "--backends", "numpy",
            "--oracles", "none", "--steps", "1", "-q"]
    documents = []
    for jobs in ("1", "2"):
        assert cli.main(args + ["-j", jobs, "--json", str(tmp_path / f"j{jobs}.json")]) == 0
        capsys.readouterr()
        documents.append(json.loads((tmp_path / f"j{jobs}.json").read_text()))
    for document in documents:
        document["summary"].pop("seconds")
    assert documents[0]["summary"] == documents[1]["summary"]
    assert [r["id"] for r in documents[0]["results"]] == [r["id"] for r in documents[1]["results"]]
    assert len(documents[0]["results"]) == 5
