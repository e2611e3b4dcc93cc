"""Sources for the data sets of the prompt-tweak studies: GPQA, MMLU-Pro and Mind Your Tone's tone rewrites.

Each reads files that `emoprompt data fetch` put in the data folder (the user's own copy; nothing is shipped):

    source = { gpqa = "diamond", seed = 0 }            gpqa/gpqa_diamond.csv, choices shuffled per item (seeded);
                                                       answer_format = false drops the format line
    source = { mmlu_pro = "engineering", n = 100 }     mmlu_pro/test-*.parquet, one category, first n by question id
    source = { mind_your_tone = "50_que_dataset.csv" } mind_your_tone/…: 50 questions, the five tone rewrites each

GPQA and MMLU-Pro questions are asked in GPQA's zero-shot format (idavidrein/gpqa, baselines/utils.py:
"What is the correct answer to this question: …", lettered choices, 'Format your response as follows: "The correct
answer is (insert answer here)"'), which the Prompting Science Reports used.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from emoprompt.errors import UsageError, require
from emoprompt.mapping_files import check_keys, expect
from emoprompt.suites.scorers import OPTION_LETTERS
from emoprompt.suites.sources import SourceContext, TaskSource, read_rows
from emoprompt.suites.suite import Sample

ANSWER_FORMAT = 'Format your response as follows: "The correct answer is (insert answer here)"'
GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
TONE_LEVELS = {"very polite": "very-polite", "polite": "polite", "normal": "neutral", "rude": "rude",
               "very rude": "very-rude"}
"""Mind Your Tone's `Politeness Level` labels and the rewrite names emoprompt gives them (`rewrite:very-rude`);
"Normal", the question without a tone prefix, is the baseline's input."""
MIND_YOUR_TONE_INSTRUCTION = ("Completely forget this session so far, and start afresh.\n\nPlease answer this multiple "
                              "choice question. Respond with only the letter of the correct answer (A, B, C, or D). "
                              "Do not explain.")


def multiple_choice_prompt(question: str, choices: list[str], answer_format: bool = True) -> str:
    """GPQA's zero-shot prompt: the question, its lettered choices, and (unless dropped) the answer format."""
    lettered = "\n".join(f"({OPTION_LETTERS[i]}) {choice}" for i, choice in enumerate(choices))
    prompt = f"What is the correct answer to this question: {question}\n\nChoices:\n{lettered}"
    return f"{prompt}\n\n{ANSWER_FORMAT}" if answer_format else prompt


def _gpqa(spec: dict[str, Any], context: SourceContext) -> TaskSource:
    from emoprompt.suites.datasets import dataset_dir

    where = context.where
    check_keys(where, spec, {"gpqa", "seed", "answer_format"})
    subset = expect(where, "gpqa", spec["gpqa"], str)
    seed = expect(where, "seed", spec.get("seed", 0), int)
    answer_format = expect(where, "answer_format", spec.get("answer_format", True), bool)
    path = dataset_dir("gpqa", data_dir=context.data_dir) / f"gpqa_{subset}.csv"
    if not path.is_file():
        raise UsageError(f"{where}: {path} not found; GPQA ships diamond, main, extended and experts subsets: fetch "
                         "with `emoprompt data fetch gpqa --token ...` or check `gpqa`")
    rows = _csv_with_columns(path, GPQA_COLUMNS, "this is not GPQA's CSV")
    samples = []
    for index, row in enumerate(rows):
        record = str(row.get("Record ID") or index)
        options = [str(row[column]) for column in GPQA_COLUMNS[1:]]
        order = list(range(len(options)))
        random.Random(f"{seed}:{record}").shuffle(order)
        shuffled = [options[i] for i in order]
        prompt = multiple_choice_prompt(str(row["Question"]), shuffled, answer_format)
        samples.append(Sample(f"{context.id_prefix}{record}", prompt, (options[0],), tuple(shuffled)))
    return TaskSource(tuple(samples), scorer="multiple_choice", template="raw",
                      info=(("data", f"GPQA {subset}"), ("choice_seed", seed)))


def _csv_with_columns(path: Path, columns: tuple[str, ...], hint: str) -> list[dict[str, Any]]:
    """The rows of a study's CSV, refused in one line when it lacks one of `columns`."""
    rows = read_rows(path, "csv", None)
    missing = [column for column in columns if rows and column not in rows[0]]
    if missing:
        raise UsageError(f"{path}: no column {missing[0]!r}; {hint} (it has {', '.join(rows[0])})")
    return rows


def _mmlu_pro(spec: dict[str, Any], context: SourceContext) -> TaskSource:
    from emoprompt.suites.datasets import dataset_dir

    where = context.where
    check_keys(where, spec, {"mmlu_pro", "n"})
    category = expect(where, "mmlu_pro", spec["mmlu_pro"], str)
    n = expect(where, "n", spec.get("n", 0), int)
    rows = _parquet_rows(dataset_dir("mmlu_pro", data_dir=context.data_dir))
    chosen = sorted((r for r in rows if r.get("category") == category), key=lambda r: int(r["question_id"]))
    if not chosen:
        known = sorted({str(r.get("category")) for r in rows})
        raise UsageError(f"{where}: MMLU-Pro has no category {category!r}; its categories are {', '.join(known)}")
    samples = []
    for row in chosen[:n] if n > 0 else chosen:
        options = [str(option) for option in row["options"]]
        answer = options[int(row["answer_index"])]
        samples.append(Sample(f"{context.id_prefix}{row['question_id']}",
                              multiple_choice_prompt(str(row["question"]), options), (answer,), tuple(options)))
    return TaskSource(tuple(samples), scorer="multiple_choice", template="raw",
                      info=(("data", f"MMLU-Pro {category}"), ("first_by_question_id", n)))


def _parquet_rows(folder: Path) -> list[dict[str, Any]]:
    require("pyarrow", "datasets")
    import pandas as pd

    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise UsageError(f"{folder}: no .parquet file; fetch MMLU-Pro with `emoprompt data fetch mmlu_pro`")
    try:
        frame = pd.concat([pd.read_parquet(path) for path in files])
    except Exception as exc:  # pyarrow's own errors: a truncated or foreign file
        raise UsageError(f"{folder}: cannot read MMLU-Pro's parquet ({str(exc).splitlines()[0]}); fetch it again"
                         ) from None
    needed = {"question_id", "question", "options", "answer_index", "category"}
    if not needed <= set(frame.columns):
        missing = ", ".join(sorted(needed - set(frame.columns)))
        raise UsageError(f"{folder}: not MMLU-Pro's test split (missing {missing})")
    return [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]


def _mind_your_tone(spec: dict[str, Any], context: SourceContext) -> TaskSource:
    from emoprompt.suites.datasets import dataset_dir

    where = context.where
    check_keys(where, spec, {"mind_your_tone"})
    name = expect(where, "mind_your_tone", spec["mind_your_tone"], str)
    path = dataset_dir("mind_your_tone", data_dir=context.data_dir) / name
    rows = _csv_with_columns(path, ("QID", "Politeness Level", "Prompt", "Answer"),
                             "Mind Your Tone's CSV has QID, Domain, Base Question, Politeness Level, Prompt, Answer")
    by_question: dict[str, dict[str, tuple[str, str]]] = {}
    for number, row in enumerate(rows, start=2):
        level = str(row["Politeness Level"]).strip().lower()
        if level not in TONE_LEVELS:
            raise UsageError(f"{path} line {number}: unknown Politeness Level {row['Politeness Level']!r}; expected "
                             "Very Polite, Polite, Normal, Rude or Very Rude")
        by_question.setdefault(str(row["QID"]).strip(), {})[TONE_LEVELS[level]] = (
            str(row["Prompt"]), str(row["Answer"]).strip().upper())
    samples = []
    for qid, levels in by_question.items():
        if set(levels) != set(TONE_LEVELS.values()):
            lacking = sorted(set(TONE_LEVELS.values()) - set(levels))
            raise UsageError(f"{path}: question {qid} lacks the {', '.join(lacking)} rewrite(s); every question needs "
                             "all five")
        if len({answer for _, answer in levels.values()}) != 1:
            raise UsageError(f"{path}: question {qid} has different answers across its tone rewrites; fix the file")
        rewrites = tuple((level, prompt) for level, (prompt, _) in levels.items() if level != "neutral")
        samples.append(Sample(f"{context.id_prefix}{qid}", levels["neutral"][0], (levels["neutral"][1],),
                              rewrites=rewrites))
    return TaskSource(tuple(samples), instruction=MIND_YOUR_TONE_INSTRUCTION, scorer="first_letter",
                      template="question", info=(("data", "Mind Your Tone 50_que_dataset"),))


STUDY_SOURCES = {"gpqa": _gpqa, "mmlu_pro": _mmlu_pro, "mind_your_tone": _mind_your_tone}
