"""The library: stimuli, suites, shipped protocols, benchmark data and installed plugins."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def stimuli() -> None:
    """The stimulus library: EmotionPrompt, NegativePrompt, placebos and controls."""


@stimuli.command("list")
@click.option("--family", help="Only this family.")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path), help="Add your own file(s).")
def stimuli_list(family: str | None, files: tuple[Path, ...]) -> None:
    """One line per stimulus: id, family, theories, text."""
    from emoprompt.errors import unknown_name
    from emoprompt.stimuli import FAMILIES, load_library

    if family and family not in FAMILIES:
        raise unknown_name("stimulus family", family, FAMILIES)
    for stimulus in sorted(load_library(files), key=lambda s: (s.family, s.id)):
        if family and stimulus.family != family:
            continue
        theories = ",".join(sorted(stimulus.theories)) or "-"
        text = stimulus.text if len(stimulus.text) <= 70 else stimulus.text[:67] + "..."
        status = "" if stimulus.status == "verified" else f"[{stimulus.status}] "
        click.echo(f"{stimulus.id:<7} {stimulus.family:<15} {theories:<45} {status}{text}")


@stimuli.command("show")
@click.argument("stimulus_id")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path), help="Add your own file(s).")
def stimuli_show(stimulus_id: str, files: tuple[Path, ...]) -> None:
    """Everything about one stimulus (ID or ID:variant)."""
    from emoprompt.stimuli import load_library

    stimulus = load_library(files).get(stimulus_id)
    click.echo(f"id:        {stimulus.label}")
    click.echo(f"family:    {stimulus.family}")
    click.echo(f"theories:  {', '.join(sorted(stimulus.theories)) or '-'}")
    click.echo(f"source:    {stimulus.source}")
    click.echo(f"status:    {stimulus.status}")
    if stimulus.code_pnum is not None:
        verified = "verified" if stimulus.mapping_verified else "unverified mapping"
        click.echo(f"code pnum: {stimulus.code_pnum} ({verified})")
    click.echo(f"text:      {stimulus.text}")
    for name, text in stimulus.variants:
        click.echo(f"variant {name}: {text}")
    if stimulus.notes:
        click.echo(f"notes:     {stimulus.notes}")


@click.group()
def data() -> None:
    """Benchmark data: where it is, and fetching it."""


@data.command("list")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where to look (default: the user cache).")
def data_list(data_dir: Path | None) -> None:
    """The fetchable data sets and whether they are present."""
    from emoprompt.paths import data_root
    from emoprompt.suites.datasets import catalogue

    for name, entry in catalogue().items():
        folder = data_root(data_dir) / name
        state = "present" if folder.is_dir() and any(folder.iterdir()) else "missing"
        click.echo(f"{name:<24} {state:<8} {len(entry['files']):>4} files  {folder}  ({entry['source']})")


@data.command("fetch")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where to put it (default: the user cache).")
@click.option("--no-verify", is_flag=True, help="Accept files whose checksum differs from the expected one.")
@click.option("--base-url", help="Fetch from this mirror instead of the catalogue's URL.")
@click.option("--token", help="Access token for a gated set (default: the set's variable, e.g. HF_TOKEN).")
@click.option("--from", "local", type=click.Path(path_type=Path),
              help="Take the files from your own copy (a file, or a folder holding them) instead of downloading.")
@click.option("--sha256", "expected", multiple=True, metavar="FILE=HASH",
              help="Check FILE against a sha256 you trust (repeatable).")
def data_fetch(name: str, data_dir: Path | None, no_verify: bool, base_url: str | None, token: str | None,
               local: Path | None, expected: tuple[str, ...]) -> None:
    """Fetch a data set (instruction_induction, bigbench, gpqa, mmlu_pro, mind_your_tone) and check every file's
    sha256: pinned in the catalogue, else recorded at the first fetch and checked at every later use."""
    from emoprompt.suites.datasets import fetch_dataset

    hashes = {}
    for pair in expected:
        file, equals, checksum = pair.partition("=")
        if not equals or len(checksum.strip()) != 64:
            raise click.UsageError(f"--sha256 {pair!r}: write FILE=HASH with the file's 64-hex-digit sha256")
        hashes[file.strip()] = checksum.strip().lower()
    folder = fetch_dataset(name, verify=not no_verify, base_url=base_url, data_dir=data_dir, token=token,
                           local=local, expected=hashes, say=click.echo)
    click.echo(f"{name}: {folder}")


@click.command()
def protocols() -> None:
    """Shipped experiment files that replicate published protocols (run one with `emoprompt run NAME`)."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.runner.experiment import protocol_names, protocol_path

    for name in protocol_names():
        summary = str(read_mapping(protocol_path(name)).get("protocol", {}).get("summary", ""))
        click.echo(f"{name:<28} {summary}")



@click.command()
def plugins() -> None:
    """What is registered: backends (model prefixes), scorers, transforms, templates, suite sources, importers,
    and where each came from (emoprompt, your code, or an installed plugin)."""
    from emoprompt import registry

    for kind in (registry.backends, registry.scorers, registry.transforms, registry.templates,
                 registry.suite_sources, registry.importers):
        names = kind.names()
        click.echo(f"{kind.kind}s ({kind.group}): " + (", ".join(
            name if kind.origin(name) == "emoprompt" else f"{name} [{kind.origin(name)}]" for name in names)
            or "none"))


@click.group()
def suites() -> None:
    """Task suites."""


@suites.command("list")
def suites_list() -> None:
    """The shipped suites."""
    from emoprompt.mapping_files import read_mapping
    from emoprompt.suites.loader import builtin_suite_names, suite_path

    for name in builtin_suite_names():
        data = read_mapping(suite_path(name))
        tasks = f"{len(data.get('task', [])):>3} tasks" if "discover" not in data else "found in data"
        click.echo(f"{name:<30} {tasks:<14} {data.get('description', '')}")


@suites.command("show")
@click.argument("suite")
def suites_show(suite: str) -> None:
    """The tasks of a suite, with one rendered prompt."""
    from emoprompt.suites.loader import load_suite, pick_demos
    from emoprompt.suites.registry import get_template

    loaded = load_suite(suite)
    for task in loaded.tasks:
        click.echo(f"{task.name:<22} {len(task.samples):>5} samples  scorer={task.scorer:<17} {task.instruction}")
    first = loaded.tasks[0]
    chat = get_template(first.template).render(first.query(first.samples[0], pick_demos(first, first.samples[0].id, 0)))
    click.echo(f"\nExample prompt ({first.name}):")
    for message in chat:
        click.echo(f"[{message.role}] {message.content!r}")

