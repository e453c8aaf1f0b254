"""Tasks: name -> factory table (imported lazily), installed plug-ins (entry points in `harness.tasks`), `file:PATH`
custom tasks and `py:package.module:factory`.

Each entry's `Example` says how the guard tests (tests/harness/run/test_run_identity.py, tests/harness/test_options.py)
exercise its
options offline: whoever adds a task or an option declares it here, next to the task, not in a test table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import Copy, Entry, Example, Task, UsageError, checked, discover_plugins, plugin_entry, user_target

HERE = Path(__file__).resolve().parent
SARCASM_EXAMPLE = Example(args={"root": "{fixtures}/sarcasmbench"}, values={"root": Copy("{fixtures}/sarcasmbench")})
EMOBENCH_EXAMPLE = Example(values={"root": Copy(str(HERE / "emobench_m_example")), "inputs": "audio,text"})
ADD_QA_EXAMPLE = Example(
    args={"path": "{files}/list.csv"},
    files={"list.csv": "file,label,speaker\nclips/a.wav,bonafide,s1\nclips/b.wav,spoof,s2\nclips/c.wav,real,s1\n",
           "clips/a.wav": ""},  # valid as format csv (inferred) and as itw; root= and audio_root= need a folder
    values={"format": "itw", "path": Copy("{files}/list.csv"), "root": Copy("{files}/clips"),
            "audio_root": Copy("{files}/clips"), "question": "Was this voice recorded from a human?", "ext": "wav",
            "shots_from": Copy("{files}/list.csv"), "score": "auto"})  # score=auto: rank_method's default
ANNOTATORS_EXAMPLE = Example(
    args={"path": "{files}/items.csv"},
    files={"items.csv": "id,name,media,annotator_1,annotator_2\nx,n1,a.wav,1,2\ny,n2,b.wav,2,3\nz,n3,c.wav,-1,1\n"},
    values={"path": Copy("{files}/items.csv"), "train": Copy("{files}/items.csv"), "columns": "annotator_1",
            "labels": "-1,1,2,3,4", "missing": "3", "id_column": "name", "media": "{name}.wav",
            "question": "What would {annotator} say?", "name": "my-panel", "description": "described otherwise"})


def _video_example(folder: str) -> Example:
    return Example(values={"root": Copy(str(HERE / "video_emotion_example" / folder)), "inputs": "video,text"})


TASKS: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("demo", "tasks.builtin:demo",
              "Built-in demo: 30 short clips, what was said (spoken) and beeps/tones/noise (signal)"),
        Entry("mmsu", "tasks.mmsu:load",
              "MMSU: 5,000 spoken-language questions (perception, reasoning; 47 sub-tasks), the official prompt; "
              "primary: mmsu_evaluation.py's letter rule (wrong-format replies dropped), strict accuracy beside it",
              example=Example(args={"root": str(HERE / "mmsu_example")},
                              values={"root": Copy(str(HERE / "mmsu_example"))},
                              skip={"revision": "the hub dataset's only (without root=)"})),
        Entry("mmar", "tasks.mmar:load",
              "MMAR: 1,000 audio reasoning questions in 4 layers; primary: the official evaluation.py rule on the raw "
              "reply, harness's extracted choice beside it",
              example=Example(args={"root": "{fixtures}/mmar"},
                              values={"root": Copy("{fixtures}/mmar"), "meta": "MMAR-meta.json"},  # both there
                              skip={o: "the hub dataset's only (without root=): "
                                       "tests/harness/run/test_run_identity.py fakes the hub for it"
                                    for o in ("revision", "cache")})),
        Entry("mmau", "tasks.mmau:load",
              "MMAU test-mini: 1,000 audio questions (sound, music, speech); primary: the official evaluation.py rule "
              "on the raw reply, harness's extracted choice beside it",
              example=Example(args={"root": "{fixtures}/mmau"},
                              values={"root": Copy("{fixtures}/mmau")},  # version=2025-03: its older file is there
                              skip={"revision": "the hub dataset's only (without root=)",
                                    "split": "split=test has no answers: refused (scored on the official server)"})),
        Entry("air_bench:foundation", "tasks.air_bench:foundation",
              "AIR-Bench Foundation: ~19k single-choice audio questions (19 tasks); primary: score_foundation.py's "
              "letter rule, unparsed replies dropped; strict accuracy (unparsed wrong) beside it",
              example=Example(args={"root": str(HERE / "demo" / "air_bench")},
                              values={"root": Copy(str(HERE / "demo" / "air_bench"))},
                              skip={"revision": "the hub dataset's only (without root=)"})),
        Entry("air_bench:chat", "tasks.air_bench:chat",
              "AIR-Bench Chat: ~2k open-ended audio questions; --judge MODEL: score_chat.py's 1-10 judge prompt in "
              "both answer orders (theirs: GPT-4)",
              example=Example(args={"root": str(HERE / "demo" / "air_bench")},
                              values={"root": Copy(str(HERE / "demo" / "air_bench"))},
                              skip={"revision": "the hub dataset's only (without root=)"})),
        Entry("add_qa", "tasks.add_qa:load",
              "Audio deepfake detection as a question (ASVspoof 2019 LA, In-the-Wild, CSV/JSONL): EER of ALLM4ADD's "
              "Real/Fake score (first-token logits), accuracy", example=ADD_QA_EXAMPLE),
        Entry("sarcasm", "tasks.sarcasm:load",
              "SarcasmBench text sarcasm: every test_<dataset>.csv of root=DIR (or a hub dataset ORG/NAME), or "
              "path=FILE; accuracy, precision/recall/F1 of Sarcastic, macro-F1 by the authors' rule, strict beside it",
              example=Example(args=SARCASM_EXAMPLE.args, values={**SARCASM_EXAMPLE.values, "path": "test_iacv1.csv"})),
        Entry("sarcasm:iacv1", "tasks.sarcasm:iacv1", "SarcasmBench IAC-V1 (root=DIR holding test_iacv1.csv)",
              example=SARCASM_EXAMPLE),
        Entry("sarcasm:iacv2", "tasks.sarcasm:iacv2", "SarcasmBench IAC-V2 (root=DIR holding test_iacv2.csv)",
              example=SARCASM_EXAMPLE),
        Entry("sarcasm:mustard", "tasks.sarcasm:mustard",
              "SarcasmBench MUStARD (root=DIR holding test_mustard.csv; Context shown unless context=false)",
              example=SARCASM_EXAMPLE),
        Entry("sarcasm:semeval", "tasks.sarcasm:semeval",
              "SarcasmBench SemEval-2018 Task 3 (root=DIR holding test_semeval.csv)", example=SARCASM_EXAMPLE),
        Entry("visual_room", "tasks.visual_room:load",
              "Visual Room two-tier multimodal sarcasm (image/video posts, JSONL path=FILE; default: a small "
              "generated example): perception and cognition accuracy, cognition error given correct perception",
              example=Example(values={"path": Copy(str(HERE / "visual_room_example" / "posts.jsonl"))})),
        Entry("emobench_m", "tasks.emobench_m:load",
              "EmoBench-M, all 13 scenarios (root=DIR with benchmark_json/ + videos, or ORG/NAME; default: a small "
              "generated example): accuracy, weighted F1, FER/CEU/SCEA dimension means and their average",
              example=EMOBENCH_EXAMPLE),
        *[Entry(f"emobench_m:{k}", f"tasks.emobench_m:{k}", f"EmoBench-M {k}: one scenario (root=DIR or ORG/NAME)",
                example=EMOBENCH_EXAMPLE)
          for k in ("ravdess_song", "ravdess_speech", "mosi", "mosei", "fgmsa", "mer2023", "sims", "sims_v2",
                    "mc_eiu", "meld", "ur_funny", "mustard", "smile")],
        Entry("video_emotion:dfew", "tasks.video_emotion:dfew",
              "DFEW video emotion, 7 classes (fold=all|1..5; root=DIR with test(single-labeled)/ + videos/, or "
              "ORG/NAME; default: a small generated example): WAR, UAR, per-class recall",
              example=_video_example("DFEW")),
        Entry("video_emotion:mer2024", "tasks.video_emotion:mer2024",
              "MER2024 video emotion, 6 labels (track=all|semi|noise; root=DIR with reference-<track>.csv + clips, or "
              "ORG/NAME; default: a small generated example): accuracy, weighted F1",
              example=_video_example("MER2024")),
        Entry("video_emotion:emer", "tasks.video_emotion:emer",
              "EMER free-text emotion reasoning (lang=en|zh; root=DIR with gt-eng.csv + videos/, or ORG/NAME; default: "
              "a small generated example): BLEU-4, ROUGE-L vs the reference, --judge for a 1-10 score",
              example=_video_example("EMER")),
        Entry("annotators", "tasks.annotators:load",
              "Multi-annotator labels (AMER/STREET layout: one label column per annotator, path=FILE, train=FILE for "
              "each annotator's few-shot examples): per-annotator accuracy, WAF or MAE; DIC (kappa-matrix gap) and "
              "an agreement heat map", example=ANNOTATORS_EXAMPLE),
    ]
}


ITEMS = "".join(f'{{"id": "s{i}", "question": "Question {i}?", "choices": ["alpha", "beta", "gamma"], '
                f'"answer": "{a}", "group": "{g}"}}\n'
                for i, (a, g) in enumerate([("alpha", "even"), ("beta", "odd"), ("gamma", "even")]))
# `file:PATH` tasks: the factory whose signature declares their options (path is the part after "file:").
FILE = Entry("file:PATH", "tasks.file_task:load_file_task",
             "Your own task from a .jsonl or .csv file (see README: Custom tasks)",
             example=Example(args={"path": "{files}/items.jsonl"}, files={"items.jsonl": ITEMS},
                             values={"path": Copy("{files}/items.jsonl"), "labels": "alpha,beta", "lettered": False,
                                     "positive": "alpha", "name": "my-quiz", "group_by": "group",
                                     "description": "the same items, described otherwise",
                                     "shots_from": Copy("{files}/items.jsonl")}))  # the pool: test_shots_pool.py


def file_factory() -> Any:
    """The factory whose signature declares a `file:` task's options."""
    return FILE.factory()


def entry(name: str) -> Entry:
    """The built-in task `name`, else the installed plug-in of that name (harness/plugins.py)."""
    return plugin_entry("task", name, TASKS)


def entries() -> dict[str, Entry]:
    """Every built-in task and every installed plug-in (each imported; a broken one carries its error)."""
    return {**TASKS, **discover_plugins("task", TASKS)[0]}


def get(name: str, task_args: dict[str, Any] | None = None) -> Task:
    """The task, its options first checked against the factory's typed signature (harness/options.py): an unknown
    option or a bad value is one line and exit 2, before any file is read."""
    if name.startswith("file:"):
        load_file_task = file_factory()
        args = checked("task", name, load_file_task, task_args or {}, given=("path",))  # path: after "file:"
        task = load_file_task(name[len("file:"):], **args)
    elif name.endswith((".yaml", ".yml")):  # a benchmark declared in a YAML file (tasks/declared.py)
        from tasks.declared import load_declared

        args = checked("task", name, load_declared, task_args or {}, given=("path",))
        task = load_declared(name, **args)
    else:
        if name.startswith("py:"):  # a user's own factory, imported as --model py: imports a class
            factory = user_target(name[len("py:"):], "task factory", "py:package.module:function")
        else:
            factory = entry(name).factory()
        args = checked("task", name, factory, task_args or {})
        task = factory(**args)
        if not isinstance(task, Task):
            raise UsageError(f"task {name}: its factory returned {type(task).__name__}, not a harness Task")
    return _identified(task, args)


def _identified(task: Task, args: dict[str, Any]) -> Task:
    """Every given option enters the run id (docs/DESIGN.md, Run id): a task records its options normalized in
    `args`; one it did not record and did not declare exempt goes in as given, so it can never be forgotten."""
    missing = {k: v for k, v in args.items() if k not in task.args and k not in task.exempt_args}
    if missing:
        task.args = {**task.args, **missing}
    return task


def listing() -> tuple[list[tuple[str, str]], list[str]]:
    """The rows of `harness tasks` (plug-ins marked with their distribution) and warnings about plug-ins left out."""
    plugins, warnings = discover_plugins("task", TASKS)
    rows = [(e.name, e.description) for e in TASKS.values()]
    rows += [(e.name, e.listed()) for e in plugins.values()]
    rows.append((FILE.name, FILE.description))
    rows.append(("PATH.yaml", "A benchmark declared in YAML: data, columns, scorer, group_by (docs/EXTENDING.md)"))
    rows.append(("py:MODULE:FACTORY", "Your own task factory returning a harness Task: py:package.module:function "
                                      "(see README: Plug-ins)"))
    return rows, warnings
