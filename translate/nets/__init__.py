"""Networks, one architecture per file.

This package's own import stays light (no torch) so that the CLI can check names and sizes at
start-up (`translate.nets.registry`, where every generator architecture is declared). Build
networks with `translate.nets.builders`.
"""
