"""`python -m unity_core …` is the `unity` command (used by `unity up` to start its children)."""

from unity_core.cli import main

if __name__ == "__main__":
    main(prog_name="unity")
