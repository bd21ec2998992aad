"""Sub-commands of ``python -m console``; see ``console.__main__.COMMANDS``."""
