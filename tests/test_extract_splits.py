"""`pose extract DIR --splits SPLITS_DIR`: HMDB51's and UCF101's official split files in, the
same splits out in the tree; every bad split file named with its line."""
from __future__ import annotations

import numpy as np
import pytest

from actionpose.cli import main
from actionpose.data import jhmdb
from actionpose.errors import DataError
from actionpose.extract import pipeline as P
from actionpose.extract.splits import read_split_files

STILL = "tests.fake_estimators:Still"


def _collection(root, layout: dict[str, list[str]]):
    rng = np.random.default_rng(1)
    for cls, videos in layout.items():
        for v in videos:
            jhmdb.write_video(root / cls / f"{v}.avi", rng.integers(0, 256, (3, 32, 40, 3), dtype=np.uint8))
    return root


def _write(path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def _tree_splits(root) -> dict[int, set]:
    return {k: {(e.cls, e.video, e.subset) for e in jhmdb.read_split(root, k)} for k in (1, 2, 3)}


def test_hmdb51_split_files_become_the_trees_splits(tmp_path):
    src = _collection(tmp_path / "in", {"run": ["r0", "r1", "r2"], "jump": ["j0", "j1", "stray"]})
    splits = tmp_path / "splits"
    codes = {"run": {"r0": "112", "r1": "221", "r2": "000"}, "jump": {"j0": "121", "j1": "212", "gone": "111"}}
    for cls, videos in codes.items():
        for k in (1, 2, 3):
            # HMDB51's files end lines with a space; one is CRLF with a UTF-8 BOM, one UTF-16
            text = "".join(f"{v}.avi {c[k - 1]} \n" for v, c in videos.items())
            if (cls, k) == ("run", 2):
                _write(splits / f"{cls}_test_split{k}.txt", "\ufeff" + text.replace("\n", "\r\n"))
            else:
                _write(splits / f"{cls}_test_split{k}.txt", text, "utf-16" if (cls, k) == ("jump", 3) else "utf-8")
    out = tmp_path / "out"
    summary = P.extract(src, out, estimator=STILL, splits=splits, progress=False)
    assert summary["extracted"] == 4 and summary["clips"] == 4
    reasons = {p.split("/")[-1]: r for p, r in summary["skipped"]}
    assert set(reasons) == {"r2.avi", "stray.avi"}
    assert "unused (0) in every split" in reasons["r2.avi"] and "not listed" in reasons["stray.avi"]
    (where, message), = summary["warnings"]
    assert where == f"{splits / 'jump_test_split1.txt'}:3" and "jump/gone" in message
    sub = {"1": "train", "2": "test"}
    want = {
        k: {(cls, v, sub[c[k - 1]]) for cls, vs in codes.items() for v, c in vs.items() if v not in ("r2", "gone")}
        for k in (1, 2, 3)
    }
    assert _tree_splits(out) == want
    assert not (out / P.META_DIR / "run" / "r2.json").exists()


def _ucf(splits, *, classes="1 Run\n2 Jump\n", lines=None):
    _write(splits / "classInd.txt", classes)
    lines = lines or {}
    for k in (1, 2, 3):
        _write(splits / f"trainlist0{k}.txt", lines.get(f"train{k}", "Run/v_Run_g01.avi 1\nJump/v_Jump_g01.avi 2\n"))
        _write(splits / f"testlist0{k}.txt", lines.get(f"test{k}", "Run/v_Run_g02.avi\nJump/v_Jump_g02.avi\n"))


def test_ucf101_split_lists_become_the_trees_splits(tmp_path, capsys):
    src = _collection(tmp_path / "in", {"Run": ["v_Run_g01", "v_Run_g02"], "Jump": ["v_Jump_g01", "v_Jump_g02"]})
    _ucf(tmp_path / "splits", lines={"train2": "Run/v_Run_g02.avi 1\nJump/v_Jump_g01.avi 2\n",
                                     "test2": "Run/v_Run_g01.avi\nJump/v_Jump_g02.avi\n"})
    rc = main(["pose", "extract", str(src), "--out", str(tmp_path / "out"), "--estimator", STILL,
               "--splits", str(tmp_path / "splits")])
    captured = capsys.readouterr()
    assert rc == 0 and "4 clip(s) extracted" in captured.out and "warning" not in captured.err
    got = _tree_splits(tmp_path / "out")
    assert got[1] == got[3] == {("Run", "v_Run_g01", "train"), ("Jump", "v_Jump_g01", "train"),
                                ("Run", "v_Run_g02", "test"), ("Jump", "v_Jump_g02", "test")}
    assert ("Run", "v_Run_g02", "train") in got[2] and ("Run", "v_Run_g01", "test") in got[2]


def test_without_split_files_the_hashed_split_says_it_is_not_comparable(tmp_path, capsys):
    src = _collection(tmp_path / "in", {"run": ["r0", "r1"]})
    rc = main(["pose", "extract", str(src), "--out", str(tmp_path / "out"), "--estimator", STILL])
    err = capsys.readouterr().err
    assert rc == 0 and "hashed 70/30 split" in err and "not comparable" in err
    assert len(jhmdb.read_split(tmp_path / "out", 1)) == 2


def _hmdb_file(splits, name, text, encoding="utf-8"):
    for k in (1, 2, 3):
        _write(splits / f"run_test_split{k}.txt", "r0.avi 1\nr1.avi 2\n")
    _write(splits / name, text, encoding)


BAD = {
    "malformed line": (lambda s: _hmdb_file(s, "run_test_split2.txt", "r0.avi 1\nr1.avi train\n"),
                       "run_test_split2.txt", "line 2: expected '<video>.avi 0|1|2'"),
    "duplicate in a file": (lambda s: _hmdb_file(s, "run_test_split1.txt", "r0.avi 1\n\nr0.avi 2\n"),
                            "run_test_split1.txt", "line 3: video 'r0' is listed twice in split 1"),
    "duplicate across classes": (lambda s: _hmdb_file(s, "jump_test_split1.txt", "r1.avi 1\n"),
                                 "run_test_split1.txt", "line 2: video 'r1' is listed twice in split 1"),
    "missing split file": (lambda s: _write(s / "run_test_split1.txt", "r0.avi 1\n"),
                           "run_test_split2.txt", "missing"),
    "split 4": (lambda s: _hmdb_file(s, "run_test_split4.txt", "r0.avi 1\n"),
                "run_test_split4.txt", "split 4 is not one of 1..3"),
    "utf-16 without a BOM": (lambda s: _hmdb_file(s, "run_test_split3.txt", "r0.avi 1\n", "utf-16-le"),
                             "run_test_split3.txt", "line 1: NUL bytes"),
    "latin-1": (lambda s: _hmdb_file(s, "run_test_split3.txt", "r0.avi 1\nr\xe9.avi 2\n", "latin-1"),
                "run_test_split3.txt", "line 2: not UTF-8 text"),
    "unknown class": (lambda s: _ucf(s, lines={"test2": "Run/v_Run_g02.avi\nSwim/v_Swim_g01.avi\n"}),
                      "testlist02.txt", "line 2: unknown class 'Swim'"),
    "label of another class": (lambda s: _ucf(s, lines={"train3": "Run/v_Run_g01.avi 2\n"}),
                               "trainlist03.txt", "line 1: label 2 is 'Jump'"),
    "ucf duplicate train/test": (lambda s: _ucf(s, lines={"test1": "Run/v_Run_g01.avi\n"}),
                                 "testlist01.txt", "line 1: video 'v_Run_g01' is listed twice in split 1"),
    "ucf line without class": (lambda s: _ucf(s, lines={"train1": "v_Run_g01.avi 1\n"}),
                               "trainlist01.txt", "line 1: expected '<class>/<video>.avi <label>'"),
    "classInd malformed": (lambda s: _ucf(s, classes="1 Run\nJump\n"), "classInd.txt", "line 2: expected '<index> <class>'"),
    "classInd gap": (lambda s: _ucf(s, classes="1 Run\n3 Jump\n"), "classInd.txt", "class indices must run 1..2"),
    "classInd missing": (lambda s: (_ucf(s), (s / "classInd.txt").unlink()), "classInd.txt", "missing"),
    "ucf list missing": (lambda s: (_ucf(s), (s / "testlist02.txt").unlink()), "testlist02.txt", "missing"),
    "both formats": (lambda s: (_ucf(s), _write(s / "run_test_split1.txt", "r0.avi 1\n")), "splits", "holds both"),
    "no split files": (lambda s: _write(s / "README.txt", "nothing"), "splits", "no split files"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_split_files_are_named_with_their_line(tmp_path, case):
    make, file_name, problem = BAD[case]
    make(tmp_path / "splits")
    with pytest.raises(DataError) as info:
        read_split_files(tmp_path / "splits")
    message = str(info.value)
    assert message.startswith(str(tmp_path / "splits")) and file_name in message and problem in message
    assert "\n" not in message


def test_cli_bad_split_file_exits_2_before_any_work(tmp_path, capsys):
    src = _collection(tmp_path / "in", {"run": ["r0"]})
    BAD["malformed line"][0](tmp_path / "splits")
    rc = main(["pose", "extract", str(src), "--out", str(tmp_path / "out"), "--estimator", STILL,
               "--splits", str(tmp_path / "splits")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "run_test_split2.txt: line 2" in err
    assert not (tmp_path / "out").exists()


def test_utf16_with_bom_and_crlf_are_read(tmp_path):
    splits = tmp_path / "splits"
    for k in (1, 2, 3):
        _write(splits / f"run_test_split{k}.txt", "r0.avi 1\r\nr1.avi 2\r\n", "utf-16")
    spec = read_split_files(splits)
    assert spec.source == "hmdb51" and spec.assignments == {("run", "r0"): (1, 1, 1), ("run", "r1"): (2, 2, 2)}
