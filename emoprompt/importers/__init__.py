"""Record importers: other harnesses' results as emoprompt records, so the same paired analysis runs on them.

An importer is `importer(paths, options) -> Imported`, registered by name (`emoprompt.register_importer` or the
`emoprompt.importers` entry point group); `emoprompt report --from NAME PATH...` writes what it returns as an
ordinary run folder (kind `import`) and reports it. Built in: `table` (CSV, JSONL or Parquet with item, condition
and score columns), `lm-eval` (`--log_samples` output folders), `inspect` (inspect_ai logs) and `promptfoo`
(`promptfoo eval -o results.json`).
"""

from emoprompt.importers.base import ColumnMap, HarnessAggregate, Imported, ImportOptions

__all__ = ["ColumnMap", "HarnessAggregate", "ImportOptions", "Imported"]
