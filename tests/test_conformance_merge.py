"""`--merge`: the JSON reports of the shards of a run give the summary and listing of the unsharded run."""
import json

import pytest

from multirnn.conformance import cli
from multirnn.conformance.faults import perturb

ONLY = ["--quick", "--only", "rnn-last-nostate-fwd-stateful-*", "--backends", "numpy", "--oracles", "none",
        "--steps", "1", "-q"]


def _run(args, capsys):
    code = cli.main(args)
    text = capsys.readouterr().out
    return code, [line for line in text.splitlines() if "wall time" not in line and "time per side" not in line]


def _summary(path):
    summary = json.loads(path.read_text())["summary"]
    summary.pop("seconds")
    return summary


@pytest.mark.parametrize("shards", [2, 3])
def test_merged_shards_reproduce_the_unsharded_report(tmp_path, capsys, shards):
    # a fault in the generic path's sigmoid makes the 'sig' configurations fail: the listing is merged too
    with perturb("numpy", "sigmoid", relative=1e-3):
        code, whole = _run(ONLY + ["--json", str(tmp_path / "whole.json")], capsys)
        parts = []
        for k in range(1, shards + 1):
            parts.append(str(tmp_path / f"shard{k}.json"))
            assert cli.main(ONLY + ["--shard", f"{k}/{shards}", "--json", parts[-1]]) in (0, 1)
            capsys.readouterr()
    assert code == 1 and any(line.startswith("FAILURES (") for line in whole)
    merged_code, merged = _run(["--merge"] + parts[::-1] + ["--json", str(tmp_path / "merged.json")], capsys)
    assert merged_code == code and merged == whole
    assert _summary(tmp_path / "merged.json") == _summary(tmp_path / "whole.json")
    ids = [[r["id"] for r in json.loads((tmp_path / f).read_text())["results"]] for f in ("whole.json", "merged.json")]
    assert ids[0] == ids[1] and len(ids[0]) == 5


def test_merge_refuses_an_incomplete_or_mixed_set(tmp_path, capsys):
    for k in (1, 2):
        cli.main(ONLY + ["--shard", f"{k}/3", "--json", str(tmp_path / f"s{k}.json")])
    capsys.readouterr()
    assert cli.main(["--merge", str(tmp_path / "s1.json"), str(tmp_path / "s2.json")]) == 2
    assert "shard(s) 3/3 missing" in capsys.readouterr().err
    assert cli.main(["--merge", str(tmp_path / "s1.json"), str(tmp_path / "s1.json")]) == 2
    assert "are both shard 1/3" in capsys.readouterr().err
    (tmp_path / "other.json").write_text("{}")
    assert cli.main(["--merge", str(tmp_path / "other.json")]) == 2
    assert "is not a JSON report" in capsys.readouterr().err


def test_shard_env_takes_the_slice_from_rank_and_world_size(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert cli.main(ONLY + ["--shard", "env", "--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert cli.main(ONLY + ["--shard", "2/3", "--list"]) == 0
    assert listed == capsys.readouterr().out.split() and len(listed) == 2
    monkeypatch.delenv("RANK")
    assert cli.main(ONLY + ["--shard", "env", "--list"]) == 2
    assert "RANK and WORLD_SIZE are not set" in capsys.readouterr().err
