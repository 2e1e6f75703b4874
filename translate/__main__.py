"""`python -m translate` (and `accelerate launch -m translate ...`) runs the CLI."""

from translate.cli import main

main()
