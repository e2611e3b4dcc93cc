"""Render a structured query into a chat with a suite's template."""

from __future__ import annotations

import re
from dataclasses import dataclass

from emoprompt.chat import Chat, Message, Query

TEMPLATE_FIELDS = ("{instruction}", "{demos}", "{input}")
_PLACEHOLDER = re.compile(r"\{(instruction|demos|input|output)\}")


def fill(text: str, values: dict[str, str]) -> str:
    """Substitute `{name}` placeholders in one pass: text that a value brings in (a stimulus or an input that
    contains `{input}`) is sent verbatim, never substituted again."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


@dataclass(frozen=True)
class Template:
    """`body` holds {instruction}, {demos} and {input}; each demo is `demo` with {input} and {output}."""

    body: str
    demo: str = "Input: {input}\nOutput: {output}"
    demo_separator: str = "\n\n"

    def render(self, query: Query) -> Chat:
        """The chat a backend receives for `query`."""
        demos = self.demo_separator.join(fill(self.demo, {"input": x, "output": y}) for x, y in query.demos)
        user = fill(self.body, {"instruction": query.instruction, "demos": demos, "input": query.input})
        messages = []
        if query.system:
            messages.append(Message("system", query.system))
        messages.extend(query.history)
        messages.append(Message("user", query.prefix + user + query.suffix))
        return (*messages, *query.turns)


TEMPLATES: dict[str, Template] = {
    # NegativePrompt's released code (template.py, main.py): zero-shot renders as
    # "Instruction: P\n\n\nInput: X\nAnswer: "; few-shot puts "Input: x\nOutput: y" demos between.
    "instruction-induction": Template("Instruction: {instruction}\n\n{demos}\nInput: {input}\nAnswer: "),
    "question": Template("{instruction}\n\n{demos}{input}", demo="{input}\n{output}\n\n", demo_separator=""),
    "raw": Template("{input}"),
    # BIG-Bench: the task prefix, then each example with the task's own input/output prefixes (already in
    # the sample's input); demonstrations are whole examples with their target.
    "bigbench": Template("{instruction}{demos}{input}", demo="{input}{output}\n", demo_separator=""),
}


"""The built-in templates; `get_template` also finds registered ones (`emoprompt.register_template`)."""
