"""Stand-in files in the published layouts of GPQA, MMLU-Pro and Mind Your Tone, written for tests.

The real files are gated or licensed and never shipped; these have the same columns, types and quirks (GPQA's
answer columns, MMLU-Pro's parquet with 10-option lists, Mind Your Tone's five rows per question with "Normal" as
the neutral label), with made-up questions whose right answer a loopback server can find: each question names
its answer's text after "key:".
"""

from __future__ import annotations

import csv
from pathlib import Path

GPQA_HEADER = ["Pre-Revision Question", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
               "Incorrect Answer 3", "Record ID", "High-level domain", "Subdomain"]
TONES = {"Very Polite": "Would you be so kind as to solve the following question?",
         "Polite": "Please answer the following question:", "Normal": "",
         "Rude": "I doubt you can even solve this.", "Very Rude": "Hey gofer, figure this out."}


def write_gpqa(root: Path, n: int = 12) -> Path:
    """`root/gpqa/gpqa_diamond.csv` with n questions."""
    path = root / "gpqa" / "gpqa_diamond.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GPQA_HEADER)
        for i in range(n):
            question = f"Stand-in physics question {i}, key: right{i}"
            writer.writerow([question, question, f"right{i}", f"wrong{i}a", f"wrong{i}b", f"wrong{i}c",
                             f"rec{i:03d}", "Physics", "Quantum Mechanics"])
    return path


def write_mmlu_pro(root: Path, per_category: int = 6) -> Path:
    """`root/mmlu_pro/test-00000-of-00001.parquet` with engineering, law and chemistry questions."""
    import pandas as pd

    rows = []
    for c, category in enumerate(("engineering", "law", "chemistry")):
        for i in range(per_category):
            qid = 1000 * (c + 1) + (per_category - i)  # stored out of id order
            options = [f"opt{qid}-{j}" for j in range(10)]
            answer = (i * 3) % 10
            rows.append({"question_id": qid, "question": f"Stand-in {category} question, key: {options[answer]}",
                         "options": options, "answer": "ABCDEFGHIJ"[answer], "answer_index": answer,
                         "cot_content": "", "category": category, "src": "stand-in"})
    path = root / "mmlu_pro" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def write_mind_your_tone(root: Path, n: int = 10) -> Path:
    """`root/mind_your_tone/50_que_dataset.csv` with n questions × five tone rewrites."""
    path = root / "mind_your_tone" / "50_que_dataset.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["QID", "Domain", "Base Question", "Politeness Level", "Prompt", "Answer"])
        for q in range(1, n + 1):
            answer = "ABCD"[q % 4]
            base = f"What is stand-in fact {q}? key: {answer}\nA) one\nB) two\nC) three\nD) four"
            for level, prefix in TONES.items():
                writer.writerow([q, "Math", f"What is stand-in fact {q}?", level, f"{prefix} {base}".strip(),
                                 answer])
    return path
