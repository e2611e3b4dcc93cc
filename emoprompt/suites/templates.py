"""Render a structured query into a chat with a suite's template."""

from __future__ import annotations

from dataclasses import dataclass

from emoprompt.chat import Chat, Message, Query
from emoprompt.errors import UsageError, unknown_name

_FIELDS = ("{instruction}", "{demos}", "{input}")


@dataclass(frozen=True)
class Template:
    """`body` holds {instruction}, {demos} and {input}; each demo is `demo` with {input} and {output}."""

    body: str
    demo: str = "Input: {input}\nOutput: {output}"
    demo_separator: str = "\n\n"

    def render(self, query: Query) -> Chat:
        """The chat a backend receives for `query`."""
        demos = self.demo_separator.join(
            self.demo.replace("{input}", x).replace("{output}", y) for x, y in query.demos
        )
        user = (self.body.replace("{instruction}", query.instruction)
                .replace("{demos}", demos).replace("{input}", query.input))
        messages = []
        if query.system:
            messages.append(Message("system", query.system))
        messages.extend(query.history)
        messages.append(Message("user", query.prefix + user + query.suffix))
        return (*messages, *query.turns)


TEMPLATES = {
    # NegativePrompt's released code (template.py, main.py): zero-shot renders as
    # "Instruction: P\n\n\nInput: X\nAnswer: "; few-shot puts "Input: x\nOutput: y" demos between.
    "instruction-induction": Template("Instruction: {instruction}\n\n{demos}\nInput: {input}\nAnswer: "),
    "question": Template("{instruction}\n\n{demos}{input}", demo="{input}\n{output}\n\n", demo_separator=""),
    "raw": Template("{input}"),
    # BIG-Bench: the task prefix, then each example with the task's own input/output prefixes (already in
    # the sample's input); demonstrations are whole examples with their target.
    "bigbench": Template("{instruction}{demos}{input}", demo="{input}{output}\n", demo_separator=""),
}


def get_template(name_or_body: str) -> Template:
    """A named template, or a custom body containing {input}."""
    if name_or_body in TEMPLATES:
        return TEMPLATES[name_or_body]
    if "{input}" in name_or_body:
        return Template(name_or_body)
    if "{" not in name_or_body:
        raise unknown_name("template", name_or_body, TEMPLATES)
    raise UsageError(f"template {name_or_body!r} lacks an {{input}} placeholder; use {', '.join(_FIELDS)}")
