"""`python -m producer`: one producer process configured from the environment (see cli.produce)."""

from producer.cli import produce

if __name__ == "__main__":
    produce(prog_name="python -m producer")
