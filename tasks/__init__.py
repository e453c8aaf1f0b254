"""Tasks: name -> factory table (imported lazily) plus `file:PATH` custom tasks."""

from __future__ import annotations

from typing import Any

from harness import Entry, Task, checked, lookup

TASKS: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("demo", "tasks.builtin:demo",
              "Built-in demo: 30 short clips, what was said (spoken) and beeps/tones/noise (signal)"),
        Entry("mmar", "tasks.mmar:load",
              "MMAR: 1,000 audio reasoning questions in 4 layers; primary: the official evaluation.py rule on the raw "
              "reply, harness's extracted choice beside it"),
        Entry("add_qa", "tasks.add_qa:load",
              "Audio deepfake detection as a question (ASVspoof 2019 LA, In-the-Wild, CSV/JSONL): EER of ALLM4ADD's "
              "Real/Fake score (first-token logits), accuracy"),
        Entry("sarcasm", "tasks.sarcasm:load",
              "SarcasmBench text sarcasm: every test_<dataset>.csv of root=DIR (or a hub dataset ORG/NAME), or "
              "path=FILE; accuracy, precision/recall/F1 of Sarcastic, macro-F1 by the authors' rule, strict beside it"),
        Entry("sarcasm:iacv1", "tasks.sarcasm:iacv1", "SarcasmBench IAC-V1 (root=DIR holding test_iacv1.csv)"),
        Entry("sarcasm:iacv2", "tasks.sarcasm:iacv2", "SarcasmBench IAC-V2 (root=DIR holding test_iacv2.csv)"),
        Entry("sarcasm:mustard", "tasks.sarcasm:mustard",
              "SarcasmBench MUStARD (root=DIR holding test_mustard.csv; Context shown unless context=false)"),
        Entry("sarcasm:semeval", "tasks.sarcasm:semeval",
              "SarcasmBench SemEval-2018 Task 3 (root=DIR holding test_semeval.csv)"),
        Entry("visual_room", "tasks.visual_room:load",
              "Visual Room two-tier multimodal sarcasm (image/video posts, JSONL path=FILE; default: a small "
              "generated example): perception and cognition accuracy, cognition error given correct perception"),
        Entry("emobench_m", "tasks.emobench_m:load",
              "EmoBench-M, all 13 scenarios (root=DIR with benchmark_json/ + videos, or ORG/NAME; default: a small "
              "generated example): accuracy, weighted F1, FER/CEU/SCEA dimension means and their average"),
        *[Entry(f"emobench_m:{k}", f"tasks.emobench_m:{k}", f"EmoBench-M {k}: one scenario (root=DIR or ORG/NAME)")
          for k in ("ravdess_song", "ravdess_speech", "mosi", "mosei", "fgmsa", "mer2023", "sims", "sims_v2",
                    "mc_eiu", "meld", "ur_funny", "mustard", "smile")],
        Entry("video_emotion:dfew", "tasks.video_emotion:dfew",
              "DFEW video emotion, 7 classes (fold=all|1..5; root=DIR with test(single-labeled)/ + videos/, or "
              "ORG/NAME; default: a small generated example): WAR, UAR, per-class recall"),
        Entry("video_emotion:mer2024", "tasks.video_emotion:mer2024",
              "MER2024 video emotion, 6 labels (track=all|semi|noise; root=DIR with reference-<track>.csv + clips, or "
              "ORG/NAME; default: a small generated example): accuracy, weighted F1"),
        Entry("video_emotion:emer", "tasks.video_emotion:emer",
              "EMER free-text emotion reasoning (lang=en|zh; root=DIR with gt-eng.csv + videos/, or ORG/NAME; default: "
              "a small generated example): BLEU-4, ROUGE-L vs the reference, --judge for a 1-10 score"),
        Entry("annotators", "tasks.annotators:load",
              "Multi-annotator labels (AMER/STREET layout: one label column per annotator, path=FILE, train=FILE for "
              "each annotator's few-shot examples): per-annotator accuracy, WAF or MAE; DIC (kappa-matrix gap) and "
              "an agreement heat map"),
    ]
}


def file_factory() -> Any:
    """The factory whose signature declares a `file:` task's options."""
    from tasks.file_task import load_file_task

    return load_file_task


def get(name: str, task_args: dict[str, Any] | None = None) -> Task:
    """The task, its options first checked against the factory's typed signature (harness/options.py): an unknown
    option or a bad value is one line and exit 2, before any file is read."""
    if name.startswith("file:"):
        from tasks.file_task import load_file_task

        args = checked("task", name, load_file_task, task_args or {}, given=("path",))  # path: after "file:"
        task = load_file_task(name[len("file:"):], **args)
    else:
        factory = lookup("task", name, TASKS).factory()
        args = checked("task", name, factory, task_args or {})
        task = factory(**args)
    return _identified(task, args)


def _identified(task: Task, args: dict[str, Any]) -> Task:
    """Every given option enters the run id (docs/DESIGN.md, Run id): a task records its options normalized in
    `args`; one it did not record and did not declare exempt goes in as given, so it can never be forgotten."""
    missing = {k: v for k, v in args.items() if k not in task.args and k not in task.exempt_args}
    if missing:
        task.args = {**task.args, **missing}
    return task


def listing() -> list[tuple[str, str]]:
    rows = [(e.name, e.description) for e in TASKS.values()]
    rows.append(("file:PATH", "Your own task from a .jsonl or .csv file (see README: Custom tasks)"))
    return rows
