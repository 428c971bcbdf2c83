"""``python -m extractor`` runs the ``bundle-extract`` CLI."""

from extractor.cli import main

main(prog_name="bundle-extract")
