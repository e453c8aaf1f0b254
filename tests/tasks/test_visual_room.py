"""Visual Room (tasks/visual_room.py): the JSONL format, the two tiers, the post-level metrics (with the conditional
error checked by hand and against an oracle-perception model), and runs on the generated example's images and
videos; all offline."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tasks
from cli import app
from harness.types import HarnessError, Output, Request, Sample, UsageError
from tasks.visual_room import EXAMPLE

cli = CliRunner()


class Oracle:
    """`py:tests.tasks.test_visual_room:Oracle`: perception answered with the gold letter (wrong on the posts listed in
    `perception_wrong`), cognition `random` (a seeded coin per post), `oracle` or `wrong`. Gold answers come through
    `fit`, as a test oracle may."""

    name = "oracle"
    modes = ("generate",)
    audio_rate = 16000
    reads_media = False

    def __init__(self, cognition: str = "random", perception_wrong: str = "", seed: int = 0) -> None:
        self.cognition, self.seed = cognition, int(seed)
        self.perception_wrong = {p for p in perception_wrong.split(",") if p}
        self.gold: dict[str, Sample] = {}

    def fit(self, samples: list[Sample]) -> None:
        self.gold = {s.id: s for s in samples}

    def describe(self) -> dict[str, Any]:
        return {"id": "oracle", "cognition": self.cognition}

    def _reply(self, r: Request) -> str:
        s = self.gold[r.id]
        wrong = next(c for c in s.choices if c != s.answer)
        if s.metadata["level"] == "perception":
            pick = wrong if s.metadata["post"] in self.perception_wrong else s.answer
            return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[s.choices.index(pick)]
        if self.cognition == "oracle":
            return s.answer or ""
        if self.cognition == "wrong":
            return wrong
        return random.Random(f"{self.seed}:{s.metadata['post']}").choice(s.choices)

    def generate(self, requests: list[Request]) -> list[Output]:
        return [Output(text=self._reply(r)) for r in requests]


def run(*args: str) -> tuple[int, str, str]:
    r = cli.invoke(app, ["run", *args])
    return r.exit_code, r.stdout, r.stderr


def results(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    (folder,) = {p.parent for p in out.rglob("summary.json")}
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return records, json.loads((folder / "summary.json").read_text())


def agg(cell: dict[str, Any], name: str) -> tuple[float | None, list[float] | None]:
    a = cell["aggregates"][name]
    return a["value"], a["ci95"]


def write_posts(folder: Path, posts: list[dict[str, Any]]) -> Path:
    """Posts with the given ids, perception question counts and media kinds; media files are not needed by
    adapters that read no media."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in posts:
        kind = p.get("kind", "image")
        rows.append({"id": p["id"], kind: f"media/{p['id']}.{'png' if kind == 'image' else 'mp4'}",
                     "text": f"Post {p['id']}", "sarcasm": p.get("sarcasm", "sarcastic"),
                     "perception": [{"question": f"Q{i}?", "choices": ["a", "b", "c"], "answer": "b"}
                                    for i in range(p.get("questions", 2))]})
    file = folder / "posts.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return file


# --- the format ------------------------------------------------------------------------------------------------------


def test_the_example_loads_in_each_tier() -> None:
    both = tasks.get("visual_room", {})
    samples = both.samples()
    posts = [json.loads(line) for line in EXAMPLE.read_text().splitlines()]
    assert len(posts) == 8 and {("image" in p) for p in posts} == {True, False}
    assert len(samples) == sum(len(p["perception"]) for p in posts) + len(posts)
    assert both.args == {"path": None, "tier": "both"} and both.group_by == ["media"]  # the default, not its path
    assert both.primary.name == "cognition_error_given_perception" and not both.primary.higher_is_better
    assert [a.unit for a in both.aggregates] == ["post"] * 3
    picnic = [s for s in samples if s.metadata["post"] == "img-picnic"]
    assert [s.id for s in picnic] == ["img-picnic#p1", "img-picnic#p2", "img-picnic#cognition"]
    assert picnic[0].lettered and picnic[0].answer == "overcast" and "picnic" not in picnic[0].question
    cognition = picnic[-1]
    assert cognition.choices == ["Not Sarcastic", "Sarcastic"] and cognition.answer == "Sarcastic"
    assert "Perfect day for a picnic" in cognition.question and not cognition.lettered
    assert all(Path(m.path).is_file() and Path(m.path).is_relative_to(EXAMPLE.parent) for s in samples
               for m in s.media)
    assert {s.metadata["media"] for s in samples} == {"image", "video"}
    perception = tasks.get("visual_room", {"tier": "perception"})
    assert {s.metadata["level"] for s in perception.samples()} == {"perception"}
    assert [a.name for a in perception.aggregates] == ["perception_accuracy"]
    cognition_only = tasks.get("visual_room", {"tier": "cognition"}).samples()
    assert [s.id for s in cognition_only] == [f"{p['id']}#cognition" for p in posts]
    with pytest.raises(UsageError, match="perception, cognition, both"):
        tasks.get("visual_room", {"tier": "all"})


def test_bad_posts_fail_naming_file_and_post(tmp_path: Path) -> None:
    file = write_posts(tmp_path, [{"id": "a"}, {"id": "b"}])
    lines = file.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["image"] = "../../outside.png"
    file.write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(HarnessError, match=r"posts\.jsonl: post 2 \(b\): media path escapes"):
        tasks.get("visual_room", {"path": str(file)})
    bad = json.loads(lines[1])
    bad["perception"][0]["answer"] = "z"
    file.write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(HarnessError, match="post 2: post b: perception question 1 needs"):
        tasks.get("visual_room", {"path": str(file)})
    file.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(HarnessError, match=r"posts\.jsonl:2"):
        tasks.get("visual_room", {"path": str(file)})
    polarity = write_posts(tmp_path / "p", [{"id": "a", "sarcasm": "positive"}, {"id": "b", "sarcasm": "negative"}])
    assert tasks.get("visual_room", {"path": str(polarity)}).samples()[-1].choices == ["negative", "positive"]


# --- the metrics -----------------------------------------------------------------------------------------------------


def test_conditional_error_by_hand(tmp_path: Path) -> None:
    # a: perception right, cognition wrong; b: both right; c: one perception answer wrong (left out); d: perception
    # right, cognition wrong -> among a, b, d the cognition error is 2/3. Cognition accuracy 1/4, perception 7/8.
    file = write_posts(tmp_path / "data", [{"id": p} for p in "abcd"])
    out = tmp_path / "out"
    code, stdout, stderr = run("--task", "visual_room", "--task-arg", f"path={file}", "--model",
                               "py:tests.tasks.test_visual_room:Oracle", "--model-arg", "cognition=wrong",
                               "--model-arg", "perception_wrong=c", "-o", str(out))
    assert code == 0, stdout + stderr
    records, summary = results(out)
    assert len(records) == 12
    overall = summary["metrics"]["overall"]
    assert agg(overall, "cognition_error_given_perception")[0] == 1.0  # a, b, d all wrong under cognition=wrong
    assert agg(overall, "perception_accuracy")[0] == pytest.approx(6 / 8)  # both of c's questions wrong here
    # an oracle cognition: no qualifying post is wrong
    rows = [json.loads(line) for line in file.read_text().splitlines()]
    rows[1]["sarcasm"] = "not sarcastic"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, stdout, stderr = run("--task", "visual_room", "--task-arg", f"path={file}", "--model",
                               "py:tests.tasks.test_visual_room:Oracle", "--model-arg", "cognition=oracle",
                               "--model-arg", "perception_wrong=c", "-o", str(tmp_path / "oracle"))
    assert code == 0, stdout + stderr
    assert agg(results(tmp_path / "oracle")[1]["metrics"]["overall"], "cognition_error_given_perception")[0] == 0.0

    # The hand case itself: a wrong, b right, c excluded, d wrong, through the scorer and the summary.
    from harness.metrics.summary import summarize

    task = tasks.get("visual_room", {"path": str(file)})
    verdict = {"a": False, "b": True, "c": False, "d": False}
    recs = []
    for s in task.samples():
        post, level = s.metadata["post"], s.metadata["level"]
        right = verdict[post] if level == "cognition" else not (post == "c" and s.id.endswith("#p1"))
        recs.append({"id": s.id, "gold": s.answer, "answer": s.answer if right else "x", "correct": right,
                     "error": None, "metadata": s.metadata})
    cell = summarize(task, ["media"], recs, 0, {})["metrics"]["overall"]
    assert agg(cell, "cognition_error_given_perception")[0] == pytest.approx(2 / 3)
    assert agg(cell, "cognition_accuracy")[0] == pytest.approx(1 / 4)
    assert agg(cell, "perception_accuracy")[0] == pytest.approx(7 / 8)
    lo, hi = agg(cell, "cognition_error_given_perception")[1]
    assert 0.0 <= lo <= 2 / 3 <= hi <= 1.0


def test_oracle_perception_and_random_cognition_give_the_cognition_error(tmp_path: Path) -> None:
    # With perception always right every post qualifies, so the conditional error is the cognition error rate:
    # a fair coin per post, about one half; per media kind too, with post-level intervals around it.
    posts = [{"id": f"p{i:03d}", "kind": "image" if i % 3 else "video", "questions": 1 + i % 3,
              "sarcasm": "sarcastic" if i % 2 else "not sarcastic"} for i in range(300)]
    file = write_posts(tmp_path / "data", posts)
    code, stdout, stderr = run("--task", "visual_room", "--task-arg", f"path={file}", "--model",
                               "py:tests.tasks.test_visual_room:Oracle", "-o", str(tmp_path / "out"))
    assert code == 0, stdout + stderr
    records, summary = results(tmp_path / "out")
    cognition = {r["metadata"]["post"]: r["correct"] for r in records if r["metadata"]["level"] == "cognition"}
    for cell, members in [(summary["metrics"]["overall"], posts),
                          *[(summary["metrics"]["groups"]["media"][k], [p for p in posts if p["kind"] == k])
                            for k in ("image", "video")]]:
        expected = sum(not cognition[p["id"]] for p in members) / len(members)
        value, (lo, hi) = agg(cell, "cognition_error_given_perception")
        assert value == pytest.approx(expected) and lo < value < hi and hi - lo < 0.3
        assert agg(cell, "perception_accuracy")[0] == 1.0
        assert agg(cell, "cognition_accuracy")[0] == pytest.approx(1 - expected)
    assert abs(agg(summary["metrics"]["overall"], "cognition_error_given_perception")[0] - 0.5) < 0.1
    assert "cog. error | perception right" in stdout


# --- end to end ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["random", "majority"])
def test_the_example_runs_out_of_the_box_in_every_strategy(model: str, tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "visual_room", "--model", model, "--strategy", "zero-shot,few-shot,cot",
                               "-o", str(tmp_path))
    assert code == 0, stdout + stderr
    assert len(list(tmp_path.rglob("summary.json"))) == 3
    table = stdout[stdout.index("strategies compared"):]
    assert table.splitlines()[1].split()[2:] == ["image", "video", "overall"]
    for name in ("cog. error | perception right", "perception acc", "cognition acc"):
        assert name in table


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from model_adapters.tiny_checkpoints import build

    folder = tmp_path_factory.mktemp("tiny")
    return {f: build(f, folder) for f in ("qwen2-vl", "qwen2.5-omni")}


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-omni"])
def test_tiny_vision_checkpoints_read_the_images_and_videos_in_every_strategy(family: str, tiny: dict[str, Path],
                                                                               tmp_path: Path) -> None:
    code, stdout, stderr = run("--task", "visual_room", "--model", f"hf:{tiny[family]}", "--model-arg",
                               "max_new_tokens=3", "--model-arg", "video_frames=4", "--strategy",
                               "zero-shot,few-shot,cot", "--shots", "1", "-o", str(tmp_path))
    assert code == 0, stdout + stderr
    for path in tmp_path.rglob("samples.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(records) == 21 and all(r["error"] is None for r in records)
        assert any("<video: media/" in r["prompt"] for r in records)
        assert any("<image: media/" in r["prompt"] for r in records)
