"""`python -m emoprompt` runs the CLI."""

from emoprompt.cli import main

main()
